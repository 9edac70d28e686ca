"""What the virtual board adds to MicroPython's unix port: the `tinyml_sim` package in this folder.

`tinyml_sim` is MicroPython code that never ships to a board. `tinyml sim` mounts this folder in the
unix port and puts it on sys.path at start-up (tests/device/mpy.py does the same for the device
tests); the device package's HAL chooses the simulated board exactly when `import tinyml_sim`
succeeds, so a unix port without it (one built with a real `bluetooth` stack, say) is treated as
any other MicroPython port."""

from pathlib import Path

PATH = Path(__file__).resolve().parent  # the folder holding tinyml_sim/, for MICROPYPATH or a mount
