# The hardware seam: board detection and the LED, one backend per platform.
#   sim           MicroPython's unix port, the virtual board (tinyml sim)
#   machine       MicroPython on a real board
#   circuitpython CircuitPython (board, pwmio)
# Board facts come from tinyml.boards (generated from boards.json), never from if-chains.
import sys

from tinyml.boards import BOARDS

if sys.platform == "linux":
    from tinyml.hal import _sim as _backend
elif sys.implementation.name == "circuitpython":
    from tinyml.hal import _circuitpython as _backend
else:
    from tinyml.hal import _machine as _backend

PLATFORM = _backend.PLATFORM
_led = None


def board_id():
    """The boards.json id of this board; ValueError when it is not a supported one."""
    return _backend.board_id(BOARDS)


def board_name():
    return BOARDS[board_id()][0]


def led():
    """The board's LED as a PWM output with duty_u16(0..65535); 65535 is full brightness."""
    global _led
    if _led is None:
        _led = _backend.led(board_id(), BOARDS[board_id()])
    return _led


def longest_match(text, boards, field):
    """Board id whose detect string (tuple index `field`) is the longest one found in text."""
    best = None
    for board, facts in boards.items():
        key = facts[field]
        if key and key in text and (best is None or len(key) > len(boards[best][field])):
            best = board
    if best is None:
        raise ValueError("unsupported board %r: not in boards.json" % text)
    return best
