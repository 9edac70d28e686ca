"""Fakes of CircuitPython's busio.I2C, digitalio.DigitalInOut, pwmio.PWMOut, audiobusio.PDMIn and
supervisor.ticks_ms API surfaces,
for running tinyml's CircuitPython backend in CPython. Stricter than the real ones where they
differ: I2C calls without the lock held fail, as on a board they would race."""

import types


class PWMOut:
    made = []

    def __init__(self, pin, *, duty_cycle=0, frequency=500, variable_frequency=False):
        self.pin, self.frequency, self._duty = pin, frequency, duty_cycle
        PWMOut.made.append(self)

    @property
    def duty_cycle(self):
        return self._duty

    @duty_cycle.setter
    def duty_cycle(self, value):
        if not isinstance(value, int) or not 0 <= value <= 65535:
            raise ValueError("duty_cycle must be 0-65535")
        self._duty = value


class DigitalInOut:
    made = []

    def __init__(self, pin):
        self.pin, self.value, self.direction = pin, False, "input"
        DigitalInOut.made.append(self)

    def switch_to_output(self, value=False, drive_mode=None):
        self.direction, self.value = "output", value


class I2C:
    """busio.I2C(scl, sda, *, frequency=100000, timeout=255) over {address: register device}."""

    devices = {}

    def __init__(self, scl, sda, *, frequency=100000, timeout=255):
        self.scl, self.sda, self.frequency = scl, sda, frequency
        self._locked = False

    def try_lock(self):
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self):
        self._locked = False

    def _check(self, address):
        if not self._locked:
            raise RuntimeError("I2C bus used without try_lock()")
        if address not in self.devices:
            raise OSError(19, "No I2C device at address: 0x%x" % address)
        return self.devices[address]

    def scan(self):
        if not self._locked:
            raise RuntimeError("I2C bus used without try_lock()")
        return sorted(self.devices)

    def writeto(self, address, buffer, *, start=0, end=None):
        # the devices are tinyml_sim.devices fakes: a plain write sets their register pointer
        self._check(address).writeto(bytes(buffer[start:end]))

    def readfrom_into(self, address, buffer, *, start=0, end=None):
        dev = self._check(address)
        view = memoryview(buffer)[start:end]
        tmp = bytearray(len(view))
        dev.readfrom_into(tmp)
        view[:] = tmp

    def writeto_then_readfrom(self, address, buffer_out, buffer_in, *, out_start=0, out_end=None,
                              in_start=0, in_end=None):
        self.writeto(address, buffer_out, start=out_start, end=out_end)
        self.readfrom_into(address, buffer_in, start=in_start, end=in_end)


class Ticks:
    """supervisor.ticks_ms(): milliseconds wrapping at 2**29; the test moves `now`."""

    now = 0

    @staticmethod
    def ticks_ms():
        return Ticks.now & ((1 << 29) - 1)


class PDMIn:
    """audiobusio.PDMIn(clock_pin, data_pin, *, sample_rate=16000, bit_depth=8, mono=True,
    oversample=64, startup_delay=0.11) as circuitpython-stubs documents it: record(destination,
    destination_length) blocks, fills unsigned samples (array('H') for 16 bits, bytearray for 8)
    and returns how many it recorded. The microphone is `source(n)`, the unsigned 16-bit value of
    sample n; recording advances Ticks by its duration, as time would pass on a board."""

    made = []
    source = staticmethod(lambda n: 32768)
    short_by = 0   # samples a record() misses ("less than destination_length": processing time)

    def __init__(self, clock_pin, data_pin, *, sample_rate=16000, bit_depth=8, mono=True, oversample=64,
                 startup_delay=0.11):
        if bit_depth % 8 or oversample % 8:
            raise ValueError("bit_depth and oversample must be multiples of 8")
        if not 0.0 <= startup_delay <= 1.0:
            raise ValueError("startup_delay must be in 0.0-1.0")
        if sample_rate * oversample < 1000000:
            raise ValueError("sample_rate x oversample must be at least 1 MHz")
        self.clock_pin, self.data_pin, self.bit_depth, self.mono = clock_pin, data_pin, bit_depth, mono
        self.sample_rate = sample_rate
        self.sample = 0
        self.deinited = False
        PDMIn.made.append(self)

    def record(self, destination, destination_length):
        if self.deinited:
            raise ValueError("Object has been deinitialized and can no longer be used")
        if self.bit_depth == 16 and getattr(destination, "typecode", None) != "H":
            raise ValueError("16-bit recording needs an array('H')")
        got = destination_length - PDMIn.short_by
        for k in range(got):
            destination[k] = PDMIn.source(self.sample + k)
        self.sample += destination_length   # the missed samples passed by all the same
        Ticks.now += destination_length * 1000 // self.sample_rate
        return got

    def deinit(self):
        self.deinited = True


def modules(board_attrs: dict):
    """sys.modules entries for board, busio, digitalio, pwmio, audiobusio, supervisor and a
    const-only micropython."""
    return {"board": types.SimpleNamespace(**board_attrs),
            "busio": types.SimpleNamespace(I2C=I2C),
            "digitalio": types.SimpleNamespace(DigitalInOut=DigitalInOut),
            "pwmio": types.SimpleNamespace(PWMOut=PWMOut),
            "audiobusio": types.SimpleNamespace(PDMIn=PDMIn),
            "supervisor": types.SimpleNamespace(ticks_ms=Ticks.ticks_ms),
            "micropython": types.SimpleNamespace(const=lambda v: v)}
