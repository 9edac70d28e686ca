# Register-level fakes of the sensors, for the virtual board: the real drivers talk to them
# through SimI2C exactly as they would through machine.I2C.
import math
import time


class RegisterDevice:
    """256 byte-wide registers with auto-increment, as most I2C sensors have."""

    def __init__(self):
        self.regs = bytearray(256)

    def read(self, reg, buf):
        self.update()
        for i in range(len(buf)):
            buf[i] = self.regs[(reg + i) & 0xFF]

    def write(self, reg, data):
        for i in range(len(data)):
            self.regs[(reg + i) & 0xFF] = data[i]

    def update(self):
        pass

    def put16be(self, reg, value):
        value &= 0xFFFF
        self.regs[reg] = value >> 8
        self.regs[reg + 1] = value & 0xFF


class MPU6050(RegisterDevice):
    """InvenSense MPU-6050: WHO_AM_I 0x75 = 0x68, asleep after reset (PWR_MGMT_1 0x6B = 0x40),
    big-endian samples from 0x3B: accel XYZ, temperature, gyro XYZ. While awake it shows a
    board lying flat and rocking: az ~ +1 g, ax (+-0.5 g) and gy (+-50 deg/s) following a
    1 Hz sine."""

    WHO_AM_I, PWR_MGMT_1, ACCEL_OUT = 0x75, 0x6B, 0x3B
    frozen = False  # tests set registers themselves and freeze the motion

    def __init__(self):
        super().__init__()
        self.regs[self.WHO_AM_I] = 0x68
        self.regs[self.PWR_MGMT_1] = 0x40

    def update(self):
        if self.frozen:
            return
        if self.regs[self.PWR_MGMT_1] & 0x40:  # asleep: samples stay as they were
            return
        phase = math.sin(2 * math.pi * (time.ticks_ms() % 1000) / 1000)
        self.put16be(0x3B, int(8192 * phase))       # accel x: +-0.5 g
        self.put16be(0x3D, 0)                       # accel y
        self.put16be(0x3F, 16384)                   # accel z: 1 g at +-2 g full scale
        self.put16be(0x41, int((25 - 36.53) * 340))  # temperature 25 C
        self.put16be(0x43, 0)
        self.put16be(0x45, int(6550 * phase))       # gyro y: +-50 deg/s
        self.put16be(0x47, 0)


FAKES = {"MPU-6050": MPU6050}
