# Register-level fakes of the sensors, for the virtual board: the drivers talk to them through
# SimI2C exactly as they would through machine.I2C (and, in the tests, Adafruit's drivers through
# a fake busio.I2C). Each fake turns a physical state (class attributes below: a board lying flat
# and rocking at 1 Hz, 23.5 C, 45 %RH, 1013.25 hPa) into register values with the conversion its
# datasheet gives, at the range the driver configured, so a driver's units are checked against
# the datasheet rather than against itself. Set `frozen = True` on a device to stop the motion and
# write its registers yourself. perform(name) has every IMU play a gesture (tinyml_sim/gestures.py).
import math
import time

_EIO = 5


def _clamp16(v):
    v = int(round(v))
    return -32768 if v < -32768 else 32767 if v > 32767 else v


def rocking():
    """The motion every IMU fake shows: +-1 over a 1 Hz sine."""
    return math.sin(2 * math.pi * (time.ticks_ms() % 1000) / 1000)


class RegisterDevice:
    """256 byte-wide registers with auto-increment, as most I2C sensors have.

    read/write serve machine.I2C's readfrom_mem/writeto_mem; writeto/readfrom_into serve plain
    transfers (busio.I2C, or machine.I2C.writeto): the first byte written sets the register pointer."""

    frozen = False

    def __init__(self):
        self.regs = bytearray(256)
        self.pointer = 0

    def read(self, reg, buf):
        self.update()
        for i in range(len(buf)):
            buf[i] = self.regs[(reg + i) & 0xFF]

    def write(self, reg, data):
        for i in range(len(data)):
            self.regs[(reg + i) & 0xFF] = data[i]
            self.written((reg + i) & 0xFF)

    def writeto(self, data):
        if len(data):              # an empty write is a probe: the device acknowledges, nothing else
            self.pointer = data[0]
            if len(data) > 1:
                self.write(data[0], data[1:])

    def readfrom_into(self, buf):
        self.read(self.pointer, buf)

    def written(self, reg):
        """Side effects of writing register `reg` (resets, one-shot triggers)."""

    def update(self):
        if not self.frozen:
            self.measure()

    def measure(self):
        pass

    def put16be(self, reg, value):
        value &= 0xFFFF
        self.regs[reg] = value >> 8
        self.regs[reg + 1] = value & 0xFF

    def put16le(self, reg, value):
        value &= 0xFFFF
        self.regs[reg] = value & 0xFF
        self.regs[reg + 1] = value >> 8


class STDevice(RegisterDevice):
    """ST's I2C sensors: the 7 low bits of the sub-address are the register; whether a multi-byte
    transfer moves to the next register depends on the part (increments())."""

    DEFAULTS = {}

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        for reg, value in self.DEFAULTS.items():
            self.regs[reg] = value

    def increments(self, sub):
        return True

    def read(self, sub, buf):
        self.update()
        reg = sub & 0x7F
        step = 1 if self.increments(sub) else 0
        for i in range(len(buf)):
            buf[i] = self.regs[(reg + i * step) & 0x7F]

    def write(self, sub, data):
        reg = sub & 0x7F
        step = 1 if self.increments(sub) else 0
        for i in range(len(data)):
            r = (reg + i * step) & 0x7F
            self.regs[r] = data[i]
            self.written(r)


class IMUFake:
    """The physical state IMU fakes show: in g and deg/s. By default the rocking motion; a
    gesture being performed (perform() below: every IMU on the bus plays it) replaces it;
    `still` replaces both by a fixed (ax, ay, az, gx, gy, gz)."""

    still = None
    gesture = None        # a tinyml_sim.gestures.Gesture, shared by every IMU fake
    gesture_start = 0     # time.ticks_us() when it started
    clock = None          # tests: a function giving the gesture's time in seconds

    def motion(self):
        if self.still is not None:
            return self.still
        gesture = IMUFake.gesture
        if gesture is not None:
            clock = IMUFake.clock
            t = clock() if clock else time.ticks_diff(time.ticks_us(), IMUFake.gesture_start) / 1e6
            return gesture.sample(t)
        phase = rocking()
        return (0.5 * phase, 0.0, 1.0, 0.0, 50.0 * phase, 0.0)


def perform(name, seed=0):
    """Every IMU fake plays gesture `name` (tinyml_sim.gestures.GESTURES) from now on, as
    take `seed` (its speed, amplitude and how the board is held); None goes back to rocking."""
    if name is None:
        IMUFake.gesture = None
        return
    from tinyml_sim.gestures import Gesture

    IMUFake.gesture = Gesture(name, seed)
    IMUFake.gesture_start = time.ticks_us()


class MPU6050(RegisterDevice, IMUFake):
    """InvenSense MPU-6050: WHO_AM_I 0x75 = 0x68, asleep after reset (PWR_MGMT_1 0x6B = 0x40),
    big-endian samples from 0x3B: accel XYZ, temperature, gyro XYZ, at ACCEL_CONFIG (0x1C)
    AFS_SEL (bits 4:3) +-2/4/8/16 g = 16384/8192/4096/2048 LSB/g and GYRO_CONFIG (0x1B) FS_SEL
    (bits 4:3) +-250/500/1000/2000 deg/s = 131/65.5/32.8/16.4 LSB/(deg/s)."""

    WHO_AM_I, PWR_MGMT_1, ACCEL_OUT = 0x75, 0x6B, 0x3B
    GYRO_CONFIG, ACCEL_CONFIG = 0x1B, 0x1C
    ACCEL_LSB_PER_G = (16384, 8192, 4096, 2048)
    GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)

    def __init__(self):
        super().__init__()
        self.regs[self.WHO_AM_I] = 0x68
        self.regs[self.PWR_MGMT_1] = 0x40

    def measure(self):
        if self.regs[self.PWR_MGMT_1] & 0x40:  # asleep: samples stay as they were
            return
        ax, ay, az, gx, gy, gz = self.motion()
        per_g = self.ACCEL_LSB_PER_G[(self.regs[self.ACCEL_CONFIG] >> 3) & 3]
        per_dps = self.GYRO_LSB_PER_DPS[(self.regs[self.GYRO_CONFIG] >> 3) & 3]
        for i, g in enumerate((ax, ay, az)):
            self.put16be(0x3B + 2 * i, _clamp16(g * per_g))
        self.put16be(0x41, int((25 - 36.53) * 340))  # temperature 25 C
        for i, dps in enumerate((gx, gy, gz)):
            self.put16be(0x43 + 2 * i, _clamp16(dps * per_dps))


class LSM9DS1AccelGyro(STDevice, IMUFake):
    """ST LSM9DS1 accelerometer + gyroscope die (I2C 0x6B). WHO_AM_I 0x0F = 0x68. Little-endian
    samples: temperature 0x15 (16 LSB/C, 0 at 25 C), gyro XYZ 0x18, accel XYZ 0x28. Gyro on when
    CTRL_REG1_G (0x10) ODR_G != 0 (the accelerometer then runs too), accel alone when
    CTRL_REG6_XL (0x20) ODR_XL != 0. Full scales: FS_XL 2/16/4/8 g = 0.061/0.732/0.122/0.244
    mg/LSB; FS_G 245/500/-/2000 dps = 8.75/17.5/-/70 mdps/LSB. Auto-increment: CTRL_REG8 (0x22)
    IF_ADD_INC (bit 2, set at reset); SW_RESET (bit 0) restores the defaults."""

    CTRL_REG1_G, CTRL_REG6_XL, CTRL_REG8 = 0x10, 0x20, 0x22
    DEFAULTS = {0x0F: 0x68, 0x22: 0x04}
    ACCEL_MG_PER_LSB = (0.061, 0.732, 0.122, 0.244)
    GYRO_MDPS_PER_LSB = (8.75, 17.5, 17.5, 70.0)
    temperature_c = 23.5

    def increments(self, sub):
        return bool(self.regs[self.CTRL_REG8] & 0x04)

    def written(self, reg):
        if reg == self.CTRL_REG8:
            if self.regs[reg] & 0x01:  # SW_RESET
                for r in range(0x80):
                    self.regs[r] = 0
                self.reset()
            self.regs[reg] &= 0x7E     # BOOT and SW_RESET clear themselves when done

    def measure(self):
        gyro_on = self.regs[self.CTRL_REG1_G] >> 5
        accel_on = gyro_on or self.regs[self.CTRL_REG6_XL] >> 5
        if not accel_on:
            return
        ax, ay, az, gx, gy, gz = self.motion()
        mg = self.ACCEL_MG_PER_LSB[(self.regs[self.CTRL_REG6_XL] >> 3) & 3]
        for i, g in enumerate((ax, ay, az)):
            self.put16le(0x28 + 2 * i, _clamp16(g * 1000 / mg))
        if gyro_on:
            mdps = self.GYRO_MDPS_PER_LSB[(self.regs[self.CTRL_REG1_G] >> 3) & 3]
            for i, dps in enumerate((gx, gy, gz)):
                self.put16le(0x18 + 2 * i, _clamp16(dps * 1000 / mdps))
            self.put16le(0x15, _clamp16((self.temperature_c - 25) * 16))
        self.regs[0x17] = 0x07 if gyro_on else 0x01  # STATUS_REG: XLDA, GDA, TDA


class LSM9DS1Mag(STDevice):
    """ST LSM9DS1 magnetometer die (I2C 0x1E). WHO_AM_I 0x0F = 0x3D. Little-endian XYZ at 0x28;
    auto-increment only with bit 7 of the sub-address set. CTRL_REG2_M (0x21) FS 4/8/12/16 gauss
    = 0.14/0.29/0.43/0.58 mgauss/LSB, REBOOT/SOFT_RST (bits 3, 2) restore the defaults;
    CTRL_REG3_M (0x22) MD: 00 continuous, 01 single, 1x power-down (the reset state)."""

    CTRL_REG2_M, CTRL_REG3_M = 0x21, 0x22
    DEFAULTS = {0x0F: 0x3D, 0x20: 0x10, 0x21: 0x00, 0x22: 0x03}
    MGAUSS_PER_LSB = (0.14, 0.29, 0.43, 0.58)
    field_gauss = (0.2, 0.0, -0.45)  # roughly the Earth's field, board flat

    def increments(self, sub):
        return bool(sub & 0x80)

    def written(self, reg):
        if reg == self.CTRL_REG2_M and self.regs[reg] & 0x0C:
            for r in range(0x80):
                self.regs[r] = 0
            self.reset()

    def measure(self):
        mode = self.regs[self.CTRL_REG3_M] & 3
        if mode > 1:
            return
        mg = self.MGAUSS_PER_LSB[(self.regs[self.CTRL_REG2_M] >> 5) & 3]
        for i, gauss in enumerate(self.field_gauss):
            self.put16le(0x28 + 2 * i, _clamp16(gauss * 1000 / mg))
        self.regs[0x27] = 0x0F  # STATUS_REG_M: XYZ data available
        if mode == 1:           # single conversion done: back to power-down
            self.regs[self.CTRL_REG3_M] |= 0x03


class BMI270(RegisterDevice, IMUFake):
    """Bosch BMI270 (I2C 0x68). CHIP_ID 0x00 = 0x24. It gives data only after its configuration
    file is loaded: PWR_CONF (0x7C) adv_power_save (bit 0) off, INIT_CTRL (0x59) = 0, the file
    written as bursts to INIT_DATA (0x5E), each at the word address in INIT_ADDR_0/1 (0x5B low
    4 bits, 0x5C high 8 bits), then INIT_CTRL = 1: INTERNAL_STATUS (0x21) becomes 0x01 (init_ok)
    when exactly CONFIG_SIZE bytes were loaded, else 0x02 (init_err). Then PWR_CTRL (0x7D) acc_en
    (bit 2) and gyr_en (bit 1) start little-endian accel XYZ at 0x0C and gyro XYZ at 0x12, at
    ACC_RANGE (0x41) +-2/4/8/16 g and GYR_RANGE (0x43) +-2000/1000/500/250/125 dps over 32768
    counts. CMD (0x7E) 0xB6 is a soft reset."""

    INTERNAL_STATUS, ACC_RANGE, GYR_RANGE = 0x21, 0x41, 0x43
    INIT_CTRL, INIT_ADDR_0, INIT_ADDR_1, INIT_DATA = 0x59, 0x5B, 0x5C, 0x5E
    PWR_CONF, PWR_CTRL, CMD = 0x7C, 0x7D, 0x7E
    CONFIG_SIZE = 8192
    DEFAULTS = {0x00: 0x24, 0x40: 0xA8, 0x41: 0x02, 0x42: 0xA9, 0x43: 0x00, 0x7C: 0x03}
    ACCEL_G = (2, 4, 8, 16)
    GYRO_DPS = (2000, 1000, 500, 250, 125)

    def __init__(self):
        super().__init__()
        self.soft_reset()

    def soft_reset(self):
        for r in range(256):
            self.regs[r] = 0
        for reg, value in self.DEFAULTS.items():
            self.regs[reg] = value
        self.config = bytearray(self.CONFIG_SIZE)
        self.loaded = bytearray(self.CONFIG_SIZE)  # 1 where a byte of the config file arrived
        self.overflow = False

    def write(self, reg, data):
        if reg == self.INIT_DATA:  # a data port: the burst goes to config memory, not registers
            if self.regs[self.PWR_CONF] & 0x01:
                return             # ignored while in advanced power save: the load then fails
            offset = 2 * ((self.regs[self.INIT_ADDR_1] << 4) | (self.regs[self.INIT_ADDR_0] & 0x0F))
            for i in range(len(data)):
                if offset + i >= self.CONFIG_SIZE:
                    self.overflow = True
                    return
                self.config[offset + i] = data[i]
                self.loaded[offset + i] = 1
            return
        super().write(reg, data)

    def written(self, reg):
        if reg == self.CMD and self.regs[reg] == 0xB6:
            self.soft_reset()
        elif reg == self.INIT_CTRL:
            if self.regs[reg] & 1:
                complete = not self.overflow and min(self.loaded) == 1
                self.regs[self.INTERNAL_STATUS] = 0x01 if complete else 0x02
            else:
                self.loaded = bytearray(self.CONFIG_SIZE)
                self.overflow = False
                self.regs[self.INTERNAL_STATUS] = 0x00

    def measure(self):
        if self.regs[self.INTERNAL_STATUS] & 0x0F != 0x01:
            return
        ax, ay, az, gx, gy, gz = self.motion()
        if self.regs[self.PWR_CTRL] & 0x04:
            per_g = 32768 / self.ACCEL_G[self.regs[self.ACC_RANGE] & 3]
            for i, g in enumerate((ax, ay, az)):
                self.put16le(0x0C + 2 * i, _clamp16(g * per_g))
        if self.regs[self.PWR_CTRL] & 0x02:
            per_dps = 32768 / self.GYRO_DPS[min(self.regs[self.GYR_RANGE] & 7, 4)]
            for i, dps in enumerate((gx, gy, gz)):
                self.put16le(0x12 + 2 * i, _clamp16(dps * per_dps))


class BMM150(RegisterDevice):
    """Bosch BMM150 magnetometer (I2C 0x10). After power-on it is suspended: only 0x4B answers and
    CHIP_ID (0x40) reads 0x00; power control (0x4B bit 0) wakes it (CHIP_ID 0x32, sleep mode);
    0x4B bits 7 and 1 are a soft reset. OpMode (0x4C bits 2:1): 00 normal, 01 forced, 11 sleep.
    Data at 0x42: X and Y as 13-bit values in bits 15:3, Z 15-bit in bits 15:1, RHALL 14-bit in
    bits 15:2 with data-ready in bit 0. Trim registers 0x5D..0x71 (Bosch's BMM150 Sensor API):
    dig_x1, dig_y1 (int8), 3 reserved, dig_z4 (int16), dig_x2, dig_y2 (int8), 2 reserved,
    dig_z2 (int16), dig_z1 (uint16), dig_xyz1 (uint15), dig_z3 (int16), dig_xy2 (int8), dig_xy1
    (uint8). The chip reports raw counts that only the trim values and RHALL turn into
    microtesla, by Bosch's compensation (compensated() below: the float formulas of the
    datasheet / Sensor API). The fake shows `field_ut` by searching, per axis, the raw count
    whose compensated value is nearest to it, at the Hall resistance `rhall`."""

    POWER, OPMODE = 0x4B, 0x4C
    # one real part's trim set (a BMX055's magnetometer, the same die, as published in
    # siwastaja/robotboard2-fw), except x1, y1, z4, z3: 0 there, small nonzero here so that
    # every term of the compensation counts
    trim = {"x1": 2, "y1": -3, "z4": -40, "x2": 28, "y2": 28, "z2": 736, "z1": 22792, "xyz1": 6806,
            "z3": -60, "xy2": -3, "xy1": 29}
    field_ut = (25.0, -10.0, 40.0)
    rhall = 6290

    def __init__(self):
        super().__init__()
        self._raw = None
        self.suspend()

    def trim_bytes(self):
        t = self.trim
        b = bytearray(21)
        b[0], b[1], b[7], b[8], b[19], b[20] = (t["x1"] & 0xFF, t["y1"] & 0xFF, t["x2"] & 0xFF, t["y2"] & 0xFF,
                                                t["xy2"] & 0xFF, t["xy1"])
        for i, key in ((5, "z4"), (11, "z2"), (13, "z1"), (15, "xyz1"), (17, "z3")):
            b[i], b[i + 1] = t[key] & 0xFF, (t[key] >> 8) & 0xFF
        return bytes(b)

    def suspend(self):
        for r in range(256):
            self.regs[r] = 0
        self.regs[self.OPMODE] = 0x06
        self.regs[0x5D:0x72] = self.trim_bytes()

    def read(self, reg, buf):
        if not self.regs[self.POWER] & 0x01:  # suspended: everything but 0x4B reads 0
            for i in range(len(buf)):
                buf[i] = self.regs[self.POWER] if reg + i == self.POWER else 0
            return
        super().read(reg, buf)

    def written(self, reg):
        if reg == self.POWER:
            power = self.regs[reg]
            if power & 0x82 or not power & 0x01:
                self.suspend()
                self.regs[self.POWER] = power & 0x01
            if self.regs[self.POWER] & 0x01:
                self.regs[0x40] = 0x32

    def compensated(self, axis, raw, rhall):
        """Bosch's float compensation of a raw count of `axis` (0, 1, 2) at `rhall`, in uT."""
        t = self.trim
        if axis < 2:
            r = t["xyz1"] * 16384.0 / rhall - 16384.0
            f = t["xy2"] * (r * r / 268435456.0) + r * t["xy1"] / 16384.0
            x1, x2 = (t["x1"], t["x2"]) if axis == 0 else (t["y1"], t["y2"])
            return (raw * ((f + 256.0) * (x2 + 160.0)) / 8192.0 + x1 * 8.0) / 16.0
        num = (raw - t["z4"]) * 131072.0 - t["z3"] * (rhall - t["xyz1"])
        return num / ((t["z2"] + t["z1"] * rhall / 32768.0) * 4.0) / 16.0

    def raw_for(self, axis, ut, rhall):
        """The raw count whose compensated value is nearest `ut`: a bisection over the axis's
        range (the compensation grows with the count), then the better of the two neighbours."""
        low, hi = (-4095, 4095) if axis < 2 else (-16383, 16383)
        lo = low
        while lo < hi:
            mid = (lo + hi) // 2
            if self.compensated(axis, mid, rhall) < ut:
                lo = mid + 1
            else:
                hi = mid
        if lo > low and abs(self.compensated(axis, lo - 1, rhall) - ut) <= abs(self.compensated(axis, lo, rhall) - ut):
            return lo - 1
        return lo

    def measure(self):
        if not self.regs[self.POWER] & 0x01 or (self.regs[self.OPMODE] >> 1) & 3 == 3:
            return
        state = (tuple(self.field_ut), self.rhall, tuple(sorted(self.trim.items())))
        if self._raw is None or self._raw[0] != state:  # the search once per physical state
            self._raw = (state, [self.raw_for(axis, self.field_ut[axis], self.rhall) for axis in range(3)])
        x, y, z = self._raw[1]
        self.put16le(0x42, (x & 0x1FFF) << 3)
        self.put16le(0x44, (y & 0x1FFF) << 3)
        self.put16le(0x46, (z & 0x7FFF) << 1)
        self.put16le(0x48, (self.rhall << 2) | 1)
        if (self.regs[self.OPMODE] >> 1) & 3 == 1:   # forced: one measurement, then sleep
            self.regs[self.OPMODE] |= 0x06


class HTS221(STDevice):
    """ST HTS221 humidity + temperature (I2C 0x5F). WHO_AM_I 0x0F = 0xBC. Auto-increment only
    with bit 7 of the sub-address set. CTRL_REG1 (0x20): PD (bit 7), ODR (bits 1:0, 0 = one-shot);
    CTRL_REG2 (0x21): BOOT (bit 7, reloads calibration), ONE_SHOT (bit 0); both clear themselves.
    H_OUT 0x28, T_OUT 0x2A little-endian. Calibration 0x30..0x3F: H0_rH_x2, H1_rH_x2, T0/T1_degC_x8
    (+ 2 MSBs each in 0x35), H0_T0_OUT, H1_T0_OUT, T0_OUT, T1_OUT; output is linear between the two
    points. The coefficients below use the datasheet's typical sensitivities (0.004 %RH/LSB,
    0.016 C/LSB)."""

    CTRL_REG1, CTRL_REG2 = 0x20, 0x21
    H0_RH, H1_RH, H0_OUT, H1_OUT = 20.0, 70.0, -2000, 10500
    T0_C, T1_C, T0_OUT, T1_OUT = 10.0, 42.0, -500, 1500
    temperature_c = 23.5
    humidity_rh = 45.0

    def __init__(self):
        t0x8, t1x8 = int(self.T0_C * 8), int(self.T1_C * 8)
        cal = bytearray(16)
        cal[0], cal[1] = int(self.H0_RH * 2), int(self.H1_RH * 2)
        cal[2], cal[3] = t0x8 & 0xFF, t1x8 & 0xFF
        cal[5] = (t0x8 >> 8) | ((t1x8 >> 8) << 2)
        for reg, value in ((6, self.H0_OUT), (10, self.H1_OUT), (12, self.T0_OUT), (14, self.T1_OUT)):
            cal[reg], cal[reg + 1] = value & 0xFF, (value >> 8) & 0xFF
        self.DEFAULTS = {0x0F: 0xBC, 0x10: 0x1B}
        for i in range(16):
            self.DEFAULTS[0x30 + i] = cal[i]
        super().__init__()

    def increments(self, sub):
        return bool(sub & 0x80)

    def written(self, reg):
        if reg == self.CTRL_REG2:
            if self.regs[reg] & 0x80:   # BOOT: reload the calibration
                self.reset()
            if self.regs[reg] & 0x01 and self.regs[self.CTRL_REG1] & 0x80:
                self.convert()
            self.regs[reg] &= 0x7E

    def measure(self):
        if self.regs[self.CTRL_REG1] & 0x80 and self.regs[self.CTRL_REG1] & 0x03:
            self.convert()

    def convert(self):
        h = self.H0_OUT + (self.humidity_rh - self.H0_RH) * (self.H1_OUT - self.H0_OUT) / (self.H1_RH - self.H0_RH)
        t = self.T0_OUT + (self.temperature_c - self.T0_C) * (self.T1_OUT - self.T0_OUT) / (self.T1_C - self.T0_C)
        self.put16le(0x28, _clamp16(h))
        self.put16le(0x2A, _clamp16(t))
        self.regs[0x27] = 0x03  # STATUS_REG: H_DA, T_DA


class HS3003:
    """Renesas HS3003 humidity + temperature (I2C 0x44). No registers: an empty write is a
    measurement request; reading 4 bytes returns status (bits 7:6 of byte 0: 00 valid, 01 stale,
    i.e. already read or not yet converted), 14-bit humidity (RH = h / (2^14 - 1) * 100 %) and
    14-bit temperature in bits 15:2 of bytes 2-3 (T = t / (2^14 - 1) * 165 - 40 C). A 14-bit
    conversion takes CONVERSION_MS (16.9 ms in the datasheet's timing table)."""

    CONVERSION_MS = 17
    temperature_c = 23.5
    humidity_rh = 45.0
    frozen = False

    def __init__(self):
        self.data = bytearray(4)
        self.data[0] = 0x40       # nothing measured yet: stale
        self.requested = None

    def writeto(self, data):
        self.requested = time.ticks_ms()

    def readfrom_into(self, buf):
        if self.requested is not None and (
                self.frozen or time.ticks_diff(time.ticks_ms(), self.requested) >= self.CONVERSION_MS):
            if not self.frozen:
                h = int(round(self.humidity_rh / 100 * 16383))
                t = int(round((self.temperature_c + 40) / 165 * 16383))
                self.data[0], self.data[1] = (h >> 8) & 0x3F, h & 0xFF
                self.data[2], self.data[3] = (t >> 6) & 0xFF, (t << 2) & 0xFC
            else:
                self.data[0] &= 0x3F
            self.requested = None
        for i in range(len(buf)):
            buf[i] = self.data[i] if i < 4 else 0xFF
        self.data[0] |= 0x40      # read once: stale from now on

    def read(self, reg, buf):  # machine.I2C.readfrom_mem: the register byte is a write first
        raise OSError(_EIO)

    def write(self, reg, data):
        raise OSError(_EIO)


class LPS22HB(STDevice):
    """ST LPS22HB pressure (I2C 0x5C). WHO_AM_I 0x0F = 0xB1. CTRL_REG1 (0x10) ODR bits 6:4 (0 =
    one-shot mode, 1/10/25/50/75 Hz); CTRL_REG2 (0x11): BOOT (bit 7), IF_ADD_INC (bit 4, set at
    reset), SWRESET (bit 2), ONE_SHOT (bit 0). PRESS_OUT 0x28..0x2A: 24-bit two's complement,
    4096 LSB/hPa; TEMP_OUT 0x2B..0x2C: 100 LSB/C. STATUS 0x27: T_DA, P_DA."""

    CTRL_REG1, CTRL_REG2 = 0x10, 0x11
    DEFAULTS = {0x0F: 0xB1, 0x11: 0x10}
    pressure_hpa = 1013.25
    temperature_c = 23.5

    def increments(self, sub):
        return bool(self.regs[self.CTRL_REG2] & 0x10)

    def written(self, reg):
        if reg == self.CTRL_REG2:
            value = self.regs[reg]
            if value & 0x04:         # SWRESET
                for r in range(0x80):
                    self.regs[r] = 0
                self.reset()
            elif value & 0x01:       # ONE_SHOT
                self.convert()
            self.regs[reg] &= 0x7A   # BOOT, SWRESET, ONE_SHOT clear themselves

    def measure(self):
        if self.regs[self.CTRL_REG1] & 0x70:
            self.convert()

    def convert(self):
        p = int(round(self.pressure_hpa * 4096)) & 0xFFFFFF
        self.regs[0x28], self.regs[0x29], self.regs[0x2A] = p & 0xFF, (p >> 8) & 0xFF, p >> 16
        self.put16le(0x2B, _clamp16(self.temperature_c * 100))
        self.regs[0x27] = 0x03


# part (boards.json) -> one fake per I2C address the part answers at, in boards.json's order
FAKES = {
    "MPU-6050": (MPU6050,),
    "LSM9DS1": (LSM9DS1AccelGyro, LSM9DS1Mag),
    "BMI270": (BMI270,),
    "BMM150": (BMM150,),
    "HTS221": (HTS221,),
    "HS3003": (HS3003,),
    "LPS22HB": (LPS22HB,),
}
