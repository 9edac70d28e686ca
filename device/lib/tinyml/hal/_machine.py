# MicroPython on a real board: machine.PWM on the LED pin from boards.json.
import os

from machine import PWM, Pin

PLATFORM = "micropython"
_PWM_HZ = 1000


def board_id(boards):
    from tinyml.hal import longest_match
    return longest_match(os.uname().machine, boards, 1)


class _ActiveLowPWM:
    """An LED wired to the supply: 0 duty is full brightness, so invert."""

    def __init__(self, pwm):
        self._pwm = pwm

    def duty_u16(self, value=None):
        if value is None:
            return 65535 - self._pwm.duty_u16()
        self._pwm.duty_u16(65535 - value)


def led(board, facts):
    pin, active_low, can_pwm = facts[3], facts[5], facts[6]
    if not can_pwm:
        raise ValueError("LED pin %r of %s cannot do PWM; wire an LED to a PWM pin" % (pin, board))
    pwm = PWM(Pin(pin), freq=_PWM_HZ, duty_u16=65535 if active_low else 0)
    return _ActiveLowPWM(pwm) if active_low else pwm
