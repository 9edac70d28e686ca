# VIRTUAL BOARD ONLY: a stand-in for the `bmi270` driver that MicroPython's Nano 33 BLE Sense
# firmware freezes in. That driver carries Bosch's configuration file, which the BMI270 needs
# uploaded at every power-on; tinyml cannot ship the file, so its BMI270 adapter lets the
# firmware's driver do the setup. On the virtual board there is no such firmware, so this module
# performs the same load protocol (the constructor's signature and register sequence follow the
# micropython-lib driver) with a dummy file of the right size, against the register fake in
# tinyml_sim.devices. It never ships to a board: tinyml.hal.firmware_module() only
# returns it on the sim backend.
from micropython import const

_CHIP_ID = const(0x00)
_INTERNAL_STATUS = const(0x21)
_ACC_CONF = const(0x40)
_ACC_RANGE = const(0x41)
_GYR_CONF = const(0x42)
_GYR_RANGE = const(0x43)
_INIT_CTRL = const(0x59)
_INIT_ADDR_0 = const(0x5B)
_INIT_ADDR_1 = const(0x5C)
_INIT_DATA = const(0x5E)
_PWR_CONF = const(0x7C)
_PWR_CTRL = const(0x7D)
_CMD = const(0x7E)
_CHUNK = const(16)

CONFIG_SIZE = 8192  # bytes in Bosch's BMI270 configuration file
DUMMY_CONFIG = bytes(CONFIG_SIZE)  # not the real file: the fake only checks how much arrives

_ODR = (0.78, 1.5, 3.1, 6.25, 12.5, 25, 50, 100, 200, 400, 800, 1600)
_ACCEL_SCALE = (2, 4, 8, 16)
_GYRO_SCALE = (2000, 1000, 500, 250, 125)


class BMI270:
    def __init__(self, bus, cs=None, address=0x68, gyro_odr=100, gyro_scale=2000, accel_odr=100,
                 accel_scale=4, bmm_magnet=None):
        self.bus = bus
        self.address = address
        if self._read(_CHIP_ID) != 0x24:
            raise OSError("No BMI270 device was found at address 0x%x" % address)
        self._write(_CMD, 0xB6)          # soft reset
        self._write(_PWR_CONF, 0x00)     # advanced power save off, or the load is refused
        self._write(_INIT_CTRL, 0x00)    # start the config load
        for offset in range(0, len(DUMMY_CONFIG), _CHUNK):
            words = offset // 2
            self._write(_INIT_ADDR_0, words & 0x0F)
            self._write(_INIT_ADDR_1, (words >> 4) & 0xFF)
            self.bus.writeto_mem(address, _INIT_DATA, DUMMY_CONFIG[offset:offset + _CHUNK])
        self._write(_INIT_CTRL, 0x01)    # done: the chip checks the file
        if not self._read(_INTERNAL_STATUS) & 0x01:
            raise OSError("Init sequence failed")
        self._write(_PWR_CTRL, 0x0E)     # accel, gyro and temperature on
        self._write(_ACC_CONF, 0xA0 | (_ODR.index(accel_odr) + 1))
        self._write(_GYR_CONF, 0xA0 | (_ODR.index(gyro_odr) + 1))
        self._write(_PWR_CONF, 0x02)
        self.accel_scale = 32768 / accel_scale
        self._write(_ACC_RANGE, _ACCEL_SCALE.index(accel_scale))
        self.gyro_scale = 32768 / gyro_scale
        self._write(_GYR_RANGE, _GYRO_SCALE.index(gyro_scale))

    def _read(self, reg):
        return self.bus.readfrom_mem(self.address, reg, 1)[0]

    def _write(self, reg, value):
        self.bus.writeto_mem(self.address, reg, bytes((value,)))
