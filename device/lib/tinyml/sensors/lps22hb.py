# ST LPS22HB pressure (Nano 33 BLE Sense Rev1 and Rev2) at 0x5C. tinyml's own setup: two register
# writes, 25 Hz continuous. read_into() fills the pressure slot of a caller's array in pascal
# (= centi-hPa), without allocating.
from micropython import const

from tinyml.sensors._chip import check_id

_WHO_AM_I = const(0x0F)
_CTRL_REG1 = const(0x10)
_CTRL_REG2 = const(0x11)
_PRESS_OUT_XL = const(0x28)
_ODR_25HZ_BDU = const(0x32)
_IF_ADD_INC = const(0x10)

ADDRESS = 0x5C
LSB_PER_HPA = 4096


class LPS22HB:
    RATE_HZ = 25     # the output data rate set below (_ODR_25HZ_BDU)

    def __init__(self, i2c, address=ADDRESS):
        check_id(i2c, address, _WHO_AM_I, 0xB1, "LPS22HB")
        self._i2c = i2c
        self._address = address
        self._buf = bytearray(3)
        i2c.writeto_mem(address, _CTRL_REG2, bytes((_IF_ADD_INC,)))
        i2c.writeto_mem(address, _CTRL_REG1, bytes((_ODR_25HZ_BDU,)))

    def read_into(self, out):
        """out[2] = pressure in Pa, rounded (4096 counts per hPa: 40.96 per Pa)."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._address, _PRESS_OUT_XL, b)
        raw = b[0] | (b[1] << 8) | (b[2] << 16)
        if raw & 0x800000:
            raw -= 0x1000000
        out[2] = (raw * 100 + 2048) >> 12
