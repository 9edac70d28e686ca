# CircuitPython: pwmio.PWMOut on the LED pin from boards.json (duty_cycle is 0..65535).
import board as _board
import pwmio

PLATFORM = "circuitpython"
_PWM_HZ = 1000


def board_id(boards):
    for board, facts in boards.items():
        if facts[2] == _board.board_id:
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


def led(board, facts):
    pin_name, active_low, can_pwm = facts[4], facts[5], facts[6]
    if not can_pwm:
        raise ValueError("LED pin %s of %s cannot do PWM; wire an LED to a PWM pin" % (pin_name, board))
    return _PWMLed(getattr(_board, pin_name), active_low)
