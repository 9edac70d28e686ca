# ST HTS221 humidity + temperature (Nano 33 BLE Sense Rev1) at 0x5F. tinyml's own setup: read the
# factory calibration once, power on at 12.5 Hz. read_into() fills the temperature (centi-degrees C)
# and humidity (centi-%RH) slots of a caller's array, without allocating.
from micropython import const

from tinyml.sensors._chip import check_id, s16le

_WHO_AM_I = const(0x0F)
_CTRL_REG1 = const(0x20)
_AUTO_INC = const(0x80)      # the HTS221 walks the registers only with bit 7 of the sub-address set
_OUT = const(0x28)           # humidity, then temperature, little-endian
_CALIBRATION = const(0x30)
_PD_BDU_12HZ5 = const(0x87)  # powered, whole samples per read, 12.5 Hz

ADDRESS = 0x5F


class HTS221:
    RATE_HZ = 12.5   # the output data rate set below (_PD_BDU_12HZ5): faster reads repeat a sample

    def __init__(self, i2c, address=ADDRESS):
        check_id(i2c, address, _WHO_AM_I, 0xBC, "HTS221")
        c = i2c.readfrom_mem(address, _AUTO_INC | _CALIBRATION, 16)
        t0x8 = c[2] | ((c[5] & 0x03) << 8)
        t1x8 = c[3] | ((c[5] & 0x0C) << 6)
        h0x2, h1x2 = c[0], c[1]
        h0_out, h1_out, t0_out, t1_out = s16le(c, 6), s16le(c, 10), s16le(c, 12), s16le(c, 14)
        if t1_out == t0_out or h1_out == h0_out:
            raise ValueError("HTS221 at I2C 0x%02x has no calibration (reads %r)" % (address, c))
        self._t = _line(t0_out, t1_out, t0x8 * 100, t1x8 * 100, 8)
        self._h = _line(h0_out, h1_out, h0x2 * 50, h1x2 * 50, 1)
        self._i2c = i2c
        self._address = address
        self._buf = bytearray(4)
        i2c.writeto_mem(address, _CTRL_REG1, bytes((_PD_BDU_12HZ5,)))

    def read_into(self, out):
        """out[0] = temperature in centi-degrees C, out[1] = relative humidity in centi-%RH."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._address, _AUTO_INC | _OUT, b)
        out0, base, slope, den = self._t
        out[0] = (base + (s16le(b, 2) - out0) * slope + den // 2) // den
        out0, base, slope, den = self._h
        h = (base + (s16le(b, 0) - out0) * slope + den // 2) // den
        out[1] = 0 if h < 0 else 10000 if h > 10000 else h


def _line(out0, out1, v0, v1, scale):
    """The calibration line through (out0, v0 / scale) and (out1, v1 / scale) as integers
    (out0, base, slope, den): value = (base + (raw - out0) * slope) // den, rounded by adding
    den // 2 first; den > 0. The products stay below 2**30 over the sensor's range, so a 32-bit
    port needs no long ints."""
    d, slope = out1 - out0, v1 - v0
    if d < 0:
        d, slope = -d, -slope
    return out0, v0 * d, slope, scale * d
