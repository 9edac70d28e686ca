# The hardware seam: board detection, the LED and the sensor I2C bus, one backend per platform.
#   sim           MicroPython's unix port, the virtual board (tinyml sim)
#   machine       MicroPython on a real board
#   circuitpython CircuitPython (board, pwmio, busio, digitalio)
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
_i2c = None


def board_id():
    """The boards.json id of this board; ValueError when it is not a supported one."""
    return _backend.board_id(BOARDS)


def facts():
    return BOARDS[board_id()]


def board_name():
    return facts()["name"]


def led():
    """The board's LED as a PWM output with duty_u16(0..65535); 65535 is full brightness."""
    global _led
    if _led is None:
        f = facts()
        if not f["led"][3]:
            raise ValueError("LED pin %r of %s cannot do PWM; wire an LED to a PWM pin" % (f["led"][0], board_id()))
        _led = _backend.led(f["led"])
    return _led


def i2c():
    """The sensor I2C bus (machine.I2C API: scan, readfrom_mem_into, writeto_mem), powered up."""
    global _i2c
    if _i2c is None:
        f = facts()
        _i2c = _backend.i2c(f["i2c"], f["power"], f["pullup"], f["sensors"])
    return _i2c


def longest_match(text, boards, field):
    """Board id whose detect string boards[id][field] is the longest one found in text."""
    best = None
    for board, f in boards.items():
        key = f[field]
        if key and key in text and (best is None or len(key) > len(boards[best][field])):
            best = board
    if best is None:
        raise ValueError("unsupported board %r: not in boards.json" % text)
    return best
