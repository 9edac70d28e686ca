# Helpers the sensor adapters share: identify a chip, decode its samples without allocating.


def check_id(i2c, address, reg, expected, part):
    """ValueError unless register `reg` of the device at `address` reads `expected`."""
    try:
        found = i2c.readfrom_mem(address, reg, 1)[0]
    except OSError:
        raise ValueError("no %s at I2C 0x%02x: check wiring and sensor power" % (part, address))
    if found != expected:
        raise ValueError("device at I2C 0x%02x is not a %s (ID register 0x%02x reads 0x%02x, expected 0x%02x)"
                         % (address, part, reg, found, expected))


def s16le(b, i):
    """Signed 16-bit little-endian value at b[i], b[i + 1]."""
    v = b[i] | (b[i + 1] << 8)
    return v - 65536 if v & 0x8000 else v
