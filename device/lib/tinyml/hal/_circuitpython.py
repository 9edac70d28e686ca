# CircuitPython: pwmio.PWMOut for the LED (duty_cycle is 0..65535), busio.I2C for sensors.
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
