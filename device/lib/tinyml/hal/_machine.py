# MicroPython on a real board: machine.PWM on the LED pin, machine.I2C on the sensor bus.
# machine is imported where it is used: the unix port has a `machine` module without Pin, PWM
# or I2C, and it must still get as far as "unsupported board" (and to its BLE stack, if any).
import os
import sys

PLATFORM = "micropython"
_PWM_HZ = 1000


def board_id(boards):
    from tinyml.hal import longest_match
    try:
        name = os.uname().machine
    except AttributeError:  # ports without os.uname (unix) say the same in sys.implementation
        name = sys.implementation._machine
    return longest_match(name, boards, "machine")


class _ActiveLowPWM:
    """An LED wired to the supply: 0 duty is full brightness, so invert."""

    def __init__(self, pwm):
        self._pwm = pwm

    def duty_u16(self, value=None):
        if value is None:
            return 65535 - self._pwm.duty_u16()
        self._pwm.duty_u16(65535 - value)


def led(led_facts):
    from machine import PWM, Pin

    pin, _, active_low, _ = led_facts
    pwm = PWM(Pin(pin), freq=_PWM_HZ, duty_u16=65535 if active_low else 0)
    return _ActiveLowPWM(pwm) if active_low else pwm


def i2c(bus, power, pullup, sensors):
    from machine import I2C, Pin

    # Sensor power and bus pull-ups first (the Nano's firmware already sets them; harmless twice).
    for switch in (power, pullup):
        if switch is not None:
            Pin(switch[0], Pin.OUT, value=1)
    bus_id, scl, sda, _, _, freq = bus
    return I2C(bus_id, scl=Pin(scl), sda=Pin(sda), freq=freq)


def firmware_module(name):
    """A driver the firmware freezes in (e.g. `bmi270` on the Nano 33 BLE Sense)."""
    return __import__(name)


def sleep(ms, light):
    """machine.lightsleep(ms) (timed on esp32 and rp2; boards.json says where) or time.sleep_ms."""
    if light:
        import machine

        machine.lightsleep(ms)
    else:
        import time

        time.sleep_ms(ms)  # type: ignore[attr-defined]
