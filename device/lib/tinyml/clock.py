# Time for everything under tinyml that CircuitPython can reach: one set of names on both.
# MicroPython's time has ticks_ms/ticks_us/ticks_diff/ticks_add/sleep_ms/sleep_us (wrapping small ints,
# nothing allocated); CircuitPython's time has only monotonic, monotonic_ns, sleep, struct_time,
# localtime, mktime and time, so there the same names are built on monotonic_ns.
#   t0 = clock.ticks_ms(); ...; clock.ticks_diff(clock.ticks_ms(), t0)  # ms since t0
#   clock.sleep_ms(20); clock.sleep_us(500)
import time

from micropython import const

# CircuitPython's ticks wrap like MicroPython's: inside the small ints of a 31-bit port, so
# differences stay right across the wrap (every 2**30 ms, about 12 days)
_PERIOD = const(1 << 30)
_HALF = const(1 << 29)


def _cp_ticks_ms():
    return (time.monotonic_ns() // 1000000) % _PERIOD


def _cp_ticks_us():
    return (time.monotonic_ns() // 1000) % _PERIOD


def _cp_ticks_diff(end, start):
    return ((end - start + _HALF) % _PERIOD) - _HALF


def _cp_ticks_add(ticks, delta):
    return (ticks + delta) % _PERIOD


def _cp_sleep_ms(ms):
    time.sleep(ms / 1000)


def _cp_sleep_us(us):
    time.sleep(us / 1000000)


_MICROPYTHON = ("ticks_ms", "ticks_us", "ticks_diff", "ticks_add", "sleep_ms", "sleep_us")

if all(getattr(time, name, None) is not None for name in _MICROPYTHON):  # MicroPython: its own, allocation-free
    ticks_ms = getattr(time, "ticks_ms")
    ticks_us = getattr(time, "ticks_us")
    ticks_diff = getattr(time, "ticks_diff")
    ticks_add = getattr(time, "ticks_add")
    sleep_ms = getattr(time, "sleep_ms")
    sleep_us = getattr(time, "sleep_us")
else:  # CircuitPython
    ticks_ms = _cp_ticks_ms
    ticks_us = _cp_ticks_us
    ticks_diff = _cp_ticks_diff
    ticks_add = _cp_ticks_add
    sleep_ms = _cp_sleep_ms
    sleep_us = _cp_sleep_us
