# Bosch BMM150 magnetometer (Nano 33 BLE Sense Rev2) at 0x10. tinyml's own setup from the
# datasheet: wake from suspend (power control bit, 0x4B), read the factory trim registers once,
# regular preset (9 XY and 15 Z repetitions), normal mode at 30 Hz. read_into() fills x, y, z in
# 0.1 uT (= 1 milligauss, LSB_PER_UT = 10) without allocating: the raw counts are compensated
# with the trim values and the Hall resistance (RHALL) by Bosch's formulas (BMM150 datasheet and
# Bosch's BMM150 Sensor API, float version), worked out here in integers that stay below 2**30,
# so a 32-bit port makes no long ints (bounds in the comments; test_sensors_circuitpython.py
# checks them with instrumented ints over the raw range, RHALL's 14 bits and extreme trims).
# Where Bosch's code gives up (RHALL reads 0) the trim's reference resistance dig_xyz1 stands in.
import time

from micropython import const

from tinyml.sensors._chip import check_id, s16le

_CHIP_ID = const(0x40)
_DATA_X = const(0x42)          # X, Y (13 bit), Z (15 bit), RHALL (14 bit), little-endian
_POWER = const(0x4B)
_OPMODE = const(0x4C)
_REP_XY = const(0x51)
_REP_Z = const(0x52)
_TRIM = const(0x5D)            # 0x5D..0x71
_NORMAL_30HZ = const(0x38)     # data rate bits 5:3 = 111 (30 Hz), opmode bits 2:1 = 00 (normal)
_REGULAR_REP_XY = const(4)     # 1 + 2 * 4 = 9 repetitions
_REGULAR_REP_Z = const(14)     # 1 + 14 = 15 repetitions
_XY_OVERFLOW = const(-4096)    # raw values the chip reports for an overflowed axis
_Z_OVERFLOW = const(-16384)
_Z_LIMIT = const(20479)        # Bosch saturates Z at +-32767 / 16 uT

ADDRESS = 0x10
LSB_PER_UT = 10
OVERFLOW = -32768              # written for an axis the chip reports as overflowed


def _s8(v):
    return v - 256 if v & 0x80 else v


class BMM150:
    LSB_PER_UT = LSB_PER_UT
    RATE_HZ = 30     # the data rate set below (_NORMAL_30HZ)
    OVERFLOW = OVERFLOW

    def __init__(self, i2c, address=ADDRESS):
        try:
            i2c.writeto_mem(address, _POWER, b"\x01")   # suspend -> sleep
        except OSError:
            raise ValueError("no BMM150 at I2C 0x%02x: check wiring and sensor power" % address)
        time.sleep(0.003)                               # start-up from suspend: 3 ms
        check_id(i2c, address, _CHIP_ID, 0x32, "BMM150")
        t = i2c.readfrom_mem(address, _TRIM, 21)
        self.trim = trim = {
            "x1": _s8(t[0]), "y1": _s8(t[1]), "z4": s16le(t, 5), "x2": _s8(t[7]), "y2": _s8(t[8]),
            "z2": s16le(t, 11), "z1": t[13] | (t[14] << 8), "xyz1": t[15] | ((t[16] & 0x7F) << 8),
            "z3": s16le(t, 17), "xy2": _s8(t[19]), "xy1": t[20]}
        if not (trim["xyz1"] and trim["z1"] and trim["z2"]):
            raise ValueError("BMM150 at I2C 0x%02x has no trim data (reads %r)" % (address, bytes(t)))
        self._x1, self._y1, self._x2, self._y2 = trim["x1"] << 10, trim["y1"] << 10, trim["x2"] + 160, trim["y2"] + 160
        self._xy1, self._xy2, self._xyz1 = trim["xy1"], trim["xy2"], trim["xyz1"]
        self._z1, self._z2, self._z3, self._z4 = trim["z1"], trim["z2"], trim["z3"], trim["z4"]
        self._i2c = i2c
        self._address = address
        self._buf = bytearray(8)
        i2c.writeto_mem(address, _REP_XY, bytes((_REGULAR_REP_XY,)))
        i2c.writeto_mem(address, _REP_Z, bytes((_REGULAR_REP_Z,)))
        i2c.writeto_mem(address, _OPMODE, bytes((_NORMAL_30HZ,)))

    def read_into(self, out):
        """out: array('h') or array('i') of 3: x, y, z in 0.1 uT (482 is 48.2 uT), compensated;
        OVERFLOW for an axis the chip reports as overflowed. Allocates nothing."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._address, _DATA_X, b)
        x = s16le(b, 0) >> 3
        y = s16le(b, 2) >> 3
        z = s16le(b, 4) >> 1
        rhall = (b[6] | (b[7] << 8)) >> 2
        if rhall == 0:             # no Hall reading: the trim's reference resistance stands in
            rhall = self._xyz1
        # X and Y: uT = (raw * (xy2 * r^2 / 2^28 + xy1 * r / 2^14 + 256) * (x2 + 160) / 8192
        # + x1 * 8) / 16, r = xyz1 * 16384 / rhall - 16384, clamped to +-2^14 (so r * r <= 2^28)
        # and kept in quarters (r4) for the xy1 term.
        a = self._xyz1 << 14       # < 2^29
        q = a // rhall
        if q < 32768:
            r4 = ((q - 16384) << 2) + (((a - q * rhall) << 2) + (rhall >> 1)) // rhall
        else:
            r4 = 65536
        r = (r4 + 2) >> 2
        # (xy2 * r^2 / 2^28 + xy1 * r / 2^14 + 256) * 2^12: |terms| <= 2^28 + 2^29 before >> 9
        h = ((self._xy2 * ((r * r) >> 7) + ((self._xy1 * r4) << 5)) >> 9) + (1 << 20)
        out[0] = _xy(x, (h * self._x2 + 2048) >> 12, self._x1)   # h * 287 < 2^30
        out[1] = _xy(y, (h * self._y2 + 2048) >> 12, self._y1)
        # Z: uT = ((raw - z4) * 2^17 - z3 * (rhall - xyz1)) / ((z2 + z1 * rhall / 2^15) * 4) / 16.
        # In 0.1 uT that is n * 160 / d, n = (raw - z4) * 2^12 - z3 * (rhall - xyz1) / 2^5 and
        # d = (z2 + z1 * rhall / 2^15) * 2^5; products are split so that none reaches 2^30:
        # |n| < 2^27 + 2^25 while |raw - z4| < 2^15, d < 2^21, and the division goes in two steps.
        z1, z3, dr = self._z1, self._z3, rhall - self._xyz1
        d = (self._z2 << 5) + (((z1 >> 8) * rhall + (((z1 & 0xFF) * rhall) >> 8) + 2) >> 2)
        if z == _Z_OVERFLOW or d <= 0:
            out[2] = OVERFLOW
            return
        n = ((z - self._z4) << 12) - z3 * (dr >> 5) - ((z3 * (dr & 31)) >> 5)
        q = n // d
        v = q * 160 + ((n - q * d) * 160 + (d >> 1)) // d
        out[2] = -_Z_LIMIT if v < -_Z_LIMIT else _Z_LIMIT if v > _Z_LIMIT else v


def _xy(raw, k, offset):
    # raw * k < 2^12 * 2^17.5; 0.1 uT = (raw * k / 2^6 + offset * 2^10) * 5 / 2^10, rounded, and
    # kept within 16 bits (real trims give about +-1650 uT) so array('h') holds every reading
    if raw == _XY_OVERFLOW:
        return OVERFLOW
    v = ((((raw * k) >> 6) + offset) * 5 + 512) >> 10
    return -32767 if v < -32767 else 32767 if v > 32767 else v
