"""tinyml on the board: load a .tmdl model and run int8 inference.

    >>> import tinyml
    >>> m = tinyml.load("sine.tmdl")
    >>> m.predict(1.57)
"""

from tinyml.model import BACKENDS, Model, available_backends, load, ram_needed, selftest

__version__ = "0.1.0"
__all__ = ("BACKENDS", "Model", "available_backends", "load", "ram_needed", "selftest")
