"""Host side of tinyml: train, quantize (via TFLite), export .tmdl, talk to boards."""

__version__ = "0.1.0"
