# The virtual board: MicroPython's unix port started by `tinyml sim`.
# The LED records every duty change to $TINYML_SIM_DIR/pwm.trace as
# little-endian (uint32 ticks_us, uint32 duty_u16) records the host reads.
import os
import struct
import time

PLATFORM = "sim"
_DEFAULT_BOARD = "nano33_ble_sense"


def board_id(boards):
    board = os.getenv("TINYML_BOARD") or _DEFAULT_BOARD
    if board not in boards:
        raise ValueError("TINYML_BOARD=%r is not a board in boards.json" % board)
    return board


class SimPWM:
    def __init__(self, pin, active_low, trace_path):
        self.pin = pin
        self.active_low = active_low
        self._duty = 0
        self._record = bytearray(8)
        self._trace = open(trace_path, "ab") if trace_path else None

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        value = 0 if value < 0 else 65535 if value > 65535 else int(value)
        self._duty = value
        if self._trace:
            struct.pack_into("<II", self._record, 0, time.ticks_us() & 0xFFFFFFFF, value)
            self._trace.write(self._record)
            self._trace.flush()
        return None


def led(board, facts):
    if not facts[6]:
        raise ValueError("LED pin %r of %s cannot do PWM" % (facts[3], board))
    sim_dir = os.getenv("TINYML_SIM_DIR")
    return SimPWM(facts[3], facts[5], sim_dir + "/pwm.trace" if sim_dir else None)
