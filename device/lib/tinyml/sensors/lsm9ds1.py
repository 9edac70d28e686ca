# ST LSM9DS1 (Nano 33 BLE Sense Rev1): accelerometer + gyroscope at 0x6B (LSM9DS1), magnetometer
# at 0x1E (LSM9DS1Mag), two dies with their own registers. tinyml's own minimal setup (register
# writes from the datasheet) and reads that fill a caller's array without allocating. Units of
# LSM9DS1: raw counts; at the ranges set here ACCEL_LSB_PER_G counts are 1 g (+-2 g, 0.061
# mg/LSB) and GYRO_LSB_PER_DPS counts are 1 deg/s (+-245 deg/s, 8.75 mdps/LSB). LSM9DS1Mag gives
# 0.1 uT (= 1 milligauss; LSB_PER_UT = 10) from +-4 gauss counts of 0.14 mgauss.
from micropython import const

from tinyml.sensors._chip import check_id, s16le

_WHO_AM_I = const(0x0F)
_CTRL_REG1_G = const(0x10)
_OUT_X_G = const(0x18)
_CTRL_REG6_XL = const(0x20)
_CTRL_REG8 = const(0x22)
_OUT_X_XL = const(0x28)
_ODR_119HZ = const(0x60)     # ODR bits 7:5 = 011; full-scale bits 4:3 = 00 (+-245 dps, +-2 g)
_BDU_IF_ADD_INC = const(0x44)  # whole samples per read; multi-byte reads walk the registers
_CTRL_REG1_M = const(0x20)
_OUT_X_L_M = const(0x28)
_AUTO_INC_M = const(0x80)    # the magnetometer walks the registers only with bit 7 of the sub-address
_TEMPCOMP_UHP_20HZ = const(0xF4)  # temperature compensation, XY ultra-high performance, 20 Hz
_FS_4GAUSS = const(0x00)     # CTRL_REG2_M: +-4 gauss, 0.14 mgauss/LSB
_CONTINUOUS = const(0x00)    # CTRL_REG3_M: continuous conversion
_Z_UHP = const(0x0C)         # CTRL_REG4_M: Z ultra-high performance, little-endian
_BDU_M = const(0x40)         # CTRL_REG5_M: whole samples per read

ADDRESS = 0x6B
MAG_ADDRESS = 0x1E
ACCEL_LSB_PER_G = 1000 / 0.061
GYRO_LSB_PER_DPS = 1000 / 8.75
MAG_LSB_PER_UT = 10


class LSM9DS1:
    ACCEL_LSB_PER_G = ACCEL_LSB_PER_G
    GYRO_LSB_PER_DPS = GYRO_LSB_PER_DPS

    def __init__(self, i2c, address=ADDRESS, mag_address=MAG_ADDRESS):
        check_id(i2c, address, _WHO_AM_I, 0x68, "LSM9DS1")
        self._i2c = i2c
        self._address = address
        self.mag_address = mag_address  # the magnetometer stays in its power-down reset state
        self._buf = bytearray(6)
        i2c.writeto_mem(address, _CTRL_REG8, bytes((_BDU_IF_ADD_INC,)))
        i2c.writeto_mem(address, _CTRL_REG1_G, bytes((_ODR_119HZ,)))   # gyro on (accel follows)
        i2c.writeto_mem(address, _CTRL_REG6_XL, bytes((_ODR_119HZ,)))  # accel range +-2 g

    def read_into(self, out):
        """out: array('h') of 6: accel x, y, z, gyro x, y, z in raw counts. Allocates nothing."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._address, _OUT_X_XL, b)
        for i in range(3):
            out[i] = s16le(b, 2 * i)
        self._i2c.readfrom_mem_into(self._address, _OUT_X_G, b)
        for i in range(3):
            out[3 + i] = s16le(b, 2 * i)


class LSM9DS1Mag:
    """The LSM9DS1's magnetometer die: x, y, z in 0.1 uT (= 1 milligauss)."""

    LSB_PER_UT = MAG_LSB_PER_UT
    RATE_HZ = 20     # the output data rate set below (_TEMPCOMP_UHP_20HZ)

    def __init__(self, i2c, address=MAG_ADDRESS):
        check_id(i2c, address, _WHO_AM_I, 0x3D, "LSM9DS1 magnetometer")
        self._i2c = i2c
        self._address = address
        self._buf = bytearray(6)
        # CTRL_REG1_M..CTRL_REG5_M in one write, walking the registers with the auto-increment bit
        i2c.writeto_mem(address, _AUTO_INC_M | _CTRL_REG1_M,
                        bytes((_TEMPCOMP_UHP_20HZ, _FS_4GAUSS, _CONTINUOUS, _Z_UHP, _BDU_M)))

    def read_into(self, out):
        """out: array('h') or array('i') of 3: x, y, z in 0.1 uT (482 is 48.2 uT), rounded from
        0.14 mgauss counts (+-4 gauss: +-4587). Allocates nothing."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._address, _AUTO_INC_M | _OUT_X_L_M, b)
        for i in range(3):
            out[i] = (s16le(b, 2 * i) * 14 + 50) // 100
