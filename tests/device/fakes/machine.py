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
        log.append(("Pin", id))


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
