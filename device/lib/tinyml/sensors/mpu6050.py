# InvenSense MPU-6050 accelerometer + gyroscope over I2C (machine.I2C register API).
# Written here because no firmware ships one. Units: raw counts; at the ranges set below,
# ACCEL_LSB_PER_G counts are 1 g and GYRO_LSB_PER_DPS counts are 1 degree/second.
from micropython import const

_WHO_AM_I = const(0x75)
_PWR_MGMT_1 = const(0x6B)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_XOUT_H = const(0x3B)
_CLOCK_PLL_X = const(0x01)   # wake up, clock from the X gyro PLL
_DLPF_44HZ = const(0x03)

ADDRESS = 0x68
ACCEL_LSB_PER_G = 16384      # +-2 g
GYRO_LSB_PER_DPS = 131       # +-250 deg/s


def _s16(hi, lo):
    v = (hi << 8) | lo
    return v - 65536 if v & 0x8000 else v


class MPU6050:
    ACCEL_LSB_PER_G = ACCEL_LSB_PER_G
    GYRO_LSB_PER_DPS = GYRO_LSB_PER_DPS

    def __init__(self, i2c, address=ADDRESS):
        self._i2c = i2c
        self._address = address
        self._buf = bytearray(14)
        try:
            who = i2c.readfrom_mem(address, _WHO_AM_I, 1)[0]
        except OSError:
            raise ValueError("no MPU-6050 at I2C address 0x%02x: check wiring and power" % address)
        if who != 0x68:
            raise ValueError("device at 0x%02x is not an MPU-6050 (WHO_AM_I 0x%02x)" % (address, who))
        i2c.writeto_mem(address, _PWR_MGMT_1, bytes((_CLOCK_PLL_X,)))
        i2c.writeto_mem(address, _ACCEL_CONFIG, b"\x00")
        i2c.writeto_mem(address, _GYRO_CONFIG, b"\x00")
        i2c.writeto_mem(address, _CONFIG, bytes((_DLPF_44HZ,)))

    def read_into(self, out):
        """out: array('h') of 6: accel x, y, z, gyro x, y, z in raw counts. Allocates nothing."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._address, _ACCEL_XOUT_H, b)
        for i in range(3):
            out[i] = _s16(b[2 * i], b[2 * i + 1])
            out[3 + i] = _s16(b[8 + 2 * i], b[9 + 2 * i])
