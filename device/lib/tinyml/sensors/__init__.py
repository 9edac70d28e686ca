# tinyml.sensors: one small API over the board's sensors, found on its I2C bus from boards.json.
#
#   imu = tinyml.sensors.imu()          # MPU-6050 (ESP32, Pico), LSM9DS1 (Nano Rev1), BMI270 (Nano Rev2)
#   sample = array('h', bytes(12))
#   imu.read_into(sample)               # accel x, y, z, gyro x, y, z in raw counts; allocates nothing
#   imu.ACCEL_LSB_PER_G, imu.GYRO_LSB_PER_DPS   # counts per g and per deg/s for this part and range
#
#   env = tinyml.sensors.environment()  # Nano: HTS221 + LPS22HB (Rev1), HS3003 + LPS22HB (Rev2)
#   values = array('i', bytes(12))
#   env.read_into(values)               # allocates nothing; integers:
#   values[TEMPERATURE]                 #   centi-degrees C (2350 is 23.5 C)
#   values[HUMIDITY]                    #   centi-%RH (4500 is 45 %RH)
#   values[PRESSURE]                    #   Pa, which is centi-hPa (101325 is 1013.25 hPa)
#   env.RATE_HZ                         # the slowest part's output data rate: every read is fresh
#
#   mag = tinyml.sensors.magnetometer() # Nano: LSM9DS1's magnetometer (Rev1), BMM150 (Rev2)
#   field = array('h', bytes(6))
#   mag.read_into(field)                # x, y, z in 0.1 uT (= 1 milligauss; 482 is 48.2 uT),
#                                       # compensated; allocates nothing; mag.LSB_PER_UT == 10
#   mag.RATE_HZ                         # its output data rate
#
# Each part has an adapter module tinyml.sensors.<part> (lower case, no dash) with a class named
# after the part; a missing sensor is a ValueError naming the part and its address.
TEMPERATURE = 0
HUMIDITY = 1
PRESSURE = 2
_ENVIRONMENT_KINDS = ("temperature_humidity", "pressure")
# parts of another kind with a magnetometer die: part -> which of its addresses is that die (its
# adapter is the class <part>Mag in the part's module)
_MAGNETOMETER_DIES = {"LSM9DS1": 1}


def imu(i2c=None):
    """The board's IMU, set up; ValueError when it does not answer on the sensor bus."""
    bus, present, sensors = _bus(i2c)
    wanted = []
    for sensor in sensors:
        if sensor[0] == "imu":
            if sensor[2][0] in present:
                return _open(bus, sensor)
            wanted.append("%s at 0x%02x" % (sensor[1], sensor[2][0]))
    raise ValueError("no IMU on the I2C bus: expected %s, found %s"
                     % (" or ".join(wanted) or "none in boards.json", _hex(present)))


def environment(i2c=None):
    """The board's temperature, humidity and pressure sensors behind one read_into(values)."""
    from tinyml import hal

    bus, present, sensors = _bus(i2c)
    parts = [s for s in sensors if s[0] in _ENVIRONMENT_KINDS]
    if not parts:
        raise ValueError("%s has no environment sensor in boards.json (its sensors: %s)"
                         % (hal.board_id(), ", ".join(s[1] for s in sensors) or "none"))
    for kind, part, addresses, _, _ in parts:
        if addresses[0] not in present:
            raise ValueError("no %s at I2C 0x%02x: check wiring and sensor power (found %s)"
                             % (part, addresses[0], _hex(present)))
    return Environment([_open(bus, s) for s in parts])


def magnetometer(i2c=None):
    """The board's magnetometer, set up; ValueError when the board has none or it does not answer."""
    from tinyml import hal

    bus, present, sensors = _bus(i2c)
    for sensor in sensors:
        kind, part, addresses = sensor[0], sensor[1], sensor[2]
        if kind == "magnetometer":
            if addresses[0] not in present:
                raise ValueError("no %s at I2C 0x%02x: check wiring and sensor power (found %s)"
                                 % (part, addresses[0], _hex(present)))
            return _open(bus, sensor)
        die = _MAGNETOMETER_DIES.get(part)
        if die is not None and die < len(addresses):
            address = addresses[die]
            if address not in present:
                raise ValueError("no %s magnetometer at I2C 0x%02x: check wiring and sensor power (found %s)"
                                 % (part, address, _hex(present)))
            module = __import__("tinyml.sensors." + part.lower().replace("-", ""), None, None, ("x",))
            return getattr(module, part.replace("-", "") + "Mag")(bus, address)
    raise ValueError("%s has no magnetometer in boards.json (its sensors: %s)"
                     % (hal.board_id(), ", ".join(s[1] for s in sensors) or "none"))


class Environment:
    """Several sensors, each filling its own slots (TEMPERATURE, HUMIDITY, PRESSURE)."""

    def __init__(self, parts):
        self.parts = tuple(parts)
        self.RATE_HZ = min(part.RATE_HZ for part in self.parts)

    def read_into(self, values):
        """values: array('i') of 3, filled in place; allocates nothing."""
        for part in self.parts:
            part.read_into(values)


def _bus(i2c):
    from tinyml import hal

    bus = i2c if i2c is not None else hal.i2c()
    return bus, bus.scan(), hal.facts()["sensors"]


def _open(bus, sensor):
    part = sensor[1]
    name = part.lower().replace("-", "")
    try:
        module = __import__("tinyml.sensors." + name, None, None, ("x",))
    except ImportError:
        raise ValueError("%s found, but tinyml has no adapter for it (tinyml/sensors/%s.py)" % (part, name))
    return getattr(module, part.replace("-", ""))(bus, *sensor[2])


def _hex(addresses):
    return ["0x%02x" % a for a in addresses]
