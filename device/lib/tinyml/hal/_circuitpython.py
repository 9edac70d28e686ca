# CircuitPython: pwmio.PWMOut for the LED (duty_cycle is 0..65535), busio.I2C for sensors,
# audiobusio.PDMIn for the microphone.
import array
import time

import board as _board
import busio
import digitalio
import pwmio

PLATFORM = "circuitpython"
_PWM_HZ = 1000
_SENSOR_BOOT_S = 0.05


def board_id(boards):
    for board, f in boards.items():
        if f["cp_id"] == _board.board_id:
            return board
    raise ValueError("unsupported board %r: not in boards.json" % _board.board_id)


class _PWMLed:
    def __init__(self, pin, active_low):
        self._out = pwmio.PWMOut(pin, frequency=_PWM_HZ, duty_cycle=65535 if active_low else 0)
        self._active_low = active_low

    def duty_u16(self, value=None):
        if value is None:
            d = self._out.duty_cycle
            return 65535 - d if self._active_low else d
        self._out.duty_cycle = 65535 - value if self._active_low else value


def led(led_facts):
    _, pin_name, active_low, _ = led_facts
    return _PWMLed(getattr(_board, pin_name), active_low)


_switches = []  # type: list  # keep the DigitalInOut objects alive: a collected one releases its pin


class MemI2C:
    """busio.I2C behind the machine.I2C register calls our sensor drivers use.

    `.bus` is the busio.I2C itself, for Adafruit drivers."""

    def __init__(self, bus):
        self.bus = bus
        self._reg = bytearray(1)

    def _lock(self):
        while not self.bus.try_lock():
            pass

    def scan(self):
        self._lock()
        try:
            return self.bus.scan()
        finally:
            self.bus.unlock()

    def readfrom_mem_into(self, addr, memaddr, buf):
        self._lock()
        try:
            self._reg[0] = memaddr
            self.bus.writeto_then_readfrom(addr, self._reg, buf)
        finally:
            self.bus.unlock()

    def readfrom_mem(self, addr, memaddr, nbytes):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf):
        self._lock()
        try:
            self.bus.writeto(addr, bytes((memaddr,)) + bytes(buf))
        finally:
            self.bus.unlock()

    def writeto(self, addr, buf):
        self._lock()
        try:
            self.bus.writeto(addr, buf)
        finally:
            self.bus.unlock()

    def readfrom_into(self, addr, buf):
        self._lock()
        try:
            self.bus.readfrom_into(addr, buf)
        finally:
            self.bus.unlock()


def i2c(bus, power, pullup, sensors):
    switched = False
    for switch in (power, pullup):
        if switch is not None:
            pin = digitalio.DigitalInOut(getattr(_board, switch[1]))
            pin.switch_to_output(value=True)
            _switches.append(pin)
            switched = True
    if switched:
        time.sleep(_SENSOR_BOOT_S)  # freshly powered sensors answer only after they booted
    _, _, _, scl, sda, freq = bus
    return MemI2C(busio.I2C(getattr(_board, scl), getattr(_board, sda), frequency=freq))


def firmware_module(name):
    """A driver module by name; CircuitPython has none of MicroPython's frozen ones."""
    return __import__(name)


def sleep(ms, light):
    """time.sleep: CircuitPython idles the CPU while it waits. Its deeper sleeps (the alarm
    module) end code.py or need alarms set up, so `light` is not used here."""
    time.sleep(ms / 1000)


# --- the microphone: a PDM microphone through audiobusio.PDMIn --------------------------------
# PDMIn.record() is blocking and captures only while it runs: there is no background capture
# to double-buffer, so the audio between two calls (the app's time on the previous block) is not
# heard. `lost` counts that gap in whole blocks, from supervisor.ticks_ms (an int below 2**29:
# no allocation), plus any samples record() itself reports missing.
_TICKS_MASK = (1 << 29) - 1


def microphone(mic_facts, block):
    cp = mic_facts[1]
    if cp is None:
        raise ValueError("this board has no microphone under CircuitPython (boards.json microphone)")
    return PDMMicrophone(cp, block)


class PDMMicrophone:
    RATE_HZ = 16000

    def __init__(self, cp_facts, block):
        self.block = block
        self.lost = 0
        self._facts = cp_facts
        # 16-bit samples come unsigned (docs: "16-bit unsigned samples"), silence at 32768
        self._raw = array.array("H", bytes(2 * block))
        self._mic = None
        self._power = None
        self._missed = 0     # samples not heard since start(), not yet counted in `lost`
        self._end = -1       # supervisor.ticks_ms() when the last record() returned
        self._ticks = None

    def start(self):
        import audiobusio
        import supervisor

        if self._mic is not None:
            return
        _, clock, data, power = self._facts
        if power is not None and self._power is None:
            self._power = digitalio.DigitalInOut(getattr(_board, power))
            self._power.switch_to_output(value=True)
        # nRF52840: 16-bit mono at 16 kHz only; RP2040: 8 or 16 bit mono, 64x oversampling
        self._mic = audiobusio.PDMIn(getattr(_board, clock), getattr(_board, data), sample_rate=self.RATE_HZ,
                                     bit_depth=16, mono=True, oversample=64)
        if self._mic.sample_rate != self.RATE_HZ:
            rate = self._mic.sample_rate
            self.stop()
            raise ValueError("PDMIn records at %d Hz here, not the %d Hz tinyml needs" % (rate, self.RATE_HZ))
        self._ticks = supervisor.ticks_ms
        self.lost = 0
        self._missed = 0
        self._end = -1

    def stop(self):
        if self._mic is not None:
            self._mic.deinit()
            self._mic = None

    def readinto(self, buf):
        if len(buf) != self.block:
            raise ValueError("microphone readinto needs an array('h') of %d samples, got %d" % (self.block, len(buf)))
        mic = self._mic
        if mic is None or self._ticks is None:
            raise ValueError("microphone not started: call start() first")
        if self._end >= 0:
            self._missed += ((self._ticks() - self._end) & _TICKS_MASK) * (self.RATE_HZ // 1000)
        got = mic.record(self._raw, self.block)
        self._end = self._ticks()
        self._missed += self.block - got
        if self._missed >= self.block:
            self.lost += self._missed // self.block
            self._missed %= self.block
        raw = self._raw
        for k in range(self.block):
            buf[k] = raw[k] - 32768
        return self.block
