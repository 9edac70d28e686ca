# A fake of MicroPython's machine.Pin and machine.PWM API surface, recording calls.
# Stricter than real ports where they differ: it rejects what some port would reject.
log = []


class Pin:
    OUT = 1
    IN = 0

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        if not isinstance(id, (int, str)):
            raise TypeError("Pin id must be int or str")
        self.id = id
        self.mode = mode
        self._value = value
        log.append(("Pin", id) if value is None else ("Pin", id, mode, value))

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = v


class PWM:
    def __init__(self, dest, *, freq=None, duty_u16=None, duty_ns=None, invert=False):
        if not isinstance(dest, Pin):
            raise TypeError("PWM needs a Pin")
        self.pin = dest
        self._freq = freq
        self._duty = 0
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        log.append(("PWM", dest.id, freq))

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        if not isinstance(value, int) or not 0 <= value <= 65535:
            raise ValueError("duty_u16 must be an int in 0..65535")
        self._duty = value
        log.append(("duty_u16", self.pin.id, value))

    def deinit(self):
        log.append(("deinit", self.pin.id))


class I2C:
    """machine.I2C(id, *, scl, sda, freq=400000, timeout=50000) over {address: register device}."""

    devices = {}

    def __init__(self, id, *, scl=None, sda=None, freq=400000, timeout=50000):
        if not isinstance(scl, Pin) or not isinstance(sda, Pin):
            raise TypeError("scl and sda must be Pin objects")
        self.id, self.scl, self.sda, self.freq = id, scl, sda, freq
        log.append(("I2C", id, scl.id, sda.id, freq))

    def _device(self, addr):
        if addr not in self.devices:
            raise OSError(19)  # ENODEV, as ports raise for an address nobody acknowledges
        return self.devices[addr]

    def scan(self):
        return sorted(self.devices)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).read(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).write(memaddr, buf)

    def writeto(self, addr, buf, stop=True):
        self._device(addr).writeto(buf)
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        self._device(addr).readfrom_into(buf)

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf)
        return bytes(buf)
