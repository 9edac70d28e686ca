# Renesas HS3003 humidity + temperature (Nano 33 BLE Sense Rev2) at 0x44. It has no registers: an
# empty write requests a measurement, a 4-byte read fetches the last one. read_into() fetches the
# result of the previous call's request and requests the next one, so it never waits; called at
# a fixed rate slower than the conversion (16.9 ms at 14 bits) every reading is fresh. It fills
# the temperature (centi-degrees C) and humidity (centi-%RH) slots of a caller's array without
# allocating.
import time

from micropython import const

_STALE = const(0xC0)         # status bits of byte 0: 00 a new measurement, 01 already read
_FULL_SCALE = const(16383)   # 2**14 - 1
_HALF = const(8191)          # rounds to the nearest centi-unit
_FIRST_WAIT_S = 0.035

ADDRESS = 0x44


class HS3003:
    RATE_HZ = 50     # one request per read: every 20 ms leaves the 16.9 ms conversion time to finish

    def __init__(self, i2c, address=ADDRESS):
        self._i2c = i2c
        self._address = address
        self._buf = bytearray(4)
        self._temperature = 0
        self._humidity = 0
        try:
            i2c.writeto(address, b"")
        except OSError:
            raise ValueError("no HS3003 at I2C 0x%02x: check wiring and sensor power" % address)
        time.sleep(_FIRST_WAIT_S)
        self._fetch()
        if self._buf[0] & _STALE:
            raise ValueError("HS3003 at I2C 0x%02x gave no measurement" % address)

    def _fetch(self):
        b = self._buf
        self._i2c.readfrom_into(self._address, b)
        if not b[0] & _STALE:
            h = ((b[0] & 0x3F) << 8) | b[1]
            t = (b[2] << 6) | (b[3] >> 2)
            self._humidity = (h * 10000 + _HALF) // _FULL_SCALE
            self._temperature = (t * 16500 + _HALF) // _FULL_SCALE - 4000
        self._i2c.writeto(self._address, b"")

    def read_into(self, out):
        """out[0] = temperature in centi-degrees C, out[1] = relative humidity in centi-%RH
        (the last fresh measurement when the sensor has none newer)."""
        self._fetch()
        out[0] = self._temperature
        out[1] = self._humidity
