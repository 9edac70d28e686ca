# tinyml.sensors: one small API over the sensor drivers.
#   imu = tinyml.sensors.imu()       # the board's IMU, found on its I2C bus (boards.json)
#   imu.read_into(buf)               # buf = array('h', bytes(12)): accel xyz, gyro xyz, raw counts
#   imu.ACCEL_LSB_PER_G, imu.GYRO_LSB_PER_DPS   # to convert counts to g and deg/s
_ADAPTERS = {"MPU-6050": "tinyml.sensors.mpu6050"}


def imu(i2c=None):
    from tinyml import hal

    bus = i2c if i2c is not None else hal.i2c()
    present = bus.scan()
    wanted = []
    for kind, part, addresses, _, _ in hal.facts()["sensors"]:
        if kind != "imu":
            continue
        wanted.append("%s at 0x%02x" % (part, addresses[0]))
        if addresses[0] in present:
            if part not in _ADAPTERS:
                raise ValueError("IMU %s found, but tinyml has no adapter for it yet" % part)
            module = __import__(_ADAPTERS[part], None, None, ("x",))
            driver = getattr(module, part.replace("-", ""))(bus, addresses[0])
            driver.ACCEL_LSB_PER_G = module.ACCEL_LSB_PER_G
            driver.GYRO_LSB_PER_DPS = module.GYRO_LSB_PER_DPS
            return driver
    raise ValueError("no IMU on the I2C bus: expected %s, found %s"
                     % (" or ".join(wanted) or "none in boards.json", ["0x%02x" % a for a in present]))
