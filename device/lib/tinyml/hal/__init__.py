# The hardware seam: board detection, the LED, the sensor I2C bus and the microphone, one backend
# per platform.
#   sim           the virtual board (`tinyml sim`): its own package, tinyml_sim, which never
#                 ships to a board; the virtual board puts it on sys.path, nothing else has it
#   machine       MicroPython on a board (also the unix port without tinyml_sim: not a board,
#                 but its real `bluetooth` stack, when built with one, serves telemetry)
#   circuitpython CircuitPython (board, pwmio, busio, digitalio)
# Board facts come from tinyml.boards (generated from boards.json), never from if-chains.
import sys

from tinyml import clock
from tinyml.boards import BOARDS

try:
    from tinyml_sim import hal as _backend  # type: ignore[import-not-found]
except ImportError:
    if sys.implementation.name == "circuitpython":
        from tinyml.hal import _circuitpython as _backend
    else:
        from tinyml.hal import _machine as _backend

PLATFORM = _backend.PLATFORM
_led = None
_i2c = None
_board = None


def board_id():
    """The boards.json id of this board; ValueError when it is not a supported one.

    Boards that share a firmware and its detect strings (the Nano 33 BLE Sense Rev1 and Rev2)
    are told apart by which of their IMUs answers on the sensor bus."""
    global _board
    if _board is None:
        board = _backend.board_id(BOARDS)
        twins = same_firmware(board, BOARDS)
        if len(twins) > 1:
            try:
                present = _open_bus(BOARDS[board]).scan()
            except OSError:  # a stuck bus must not stop the LED demo: keep the first candidate
                present = []
            board = pick_by_imu(twins, BOARDS, present)
        _board = board
    return _board


def same_firmware(board, boards):
    """Boards detected by the same strings as `board` (itself first, then boards.json order)."""
    f = boards[board]
    return [board] + [b for b, g in boards.items()
                      if b != board and g["machine"] == f["machine"] and g["cp_id"] == f["cp_id"]]


def pick_by_imu(candidates, boards, present):
    """The candidate whose IMU's first address is in `present` (an I2C scan); the first candidate
    when none or several match (sensors unpowered: the LED still works)."""
    found = [b for b in candidates
             if any(kind == "imu" and addresses[0] in present for kind, _, addresses, _, _ in boards[b]["sensors"])]
    return found[0] if len(found) == 1 else candidates[0]


def firmware_module(name):
    """A driver module the firmware freezes in, e.g. "bmi270"; ImportError when it has none."""
    return _backend.firmware_module(name)


def facts():
    return BOARDS[board_id()]


def board_name():
    return facts()["name"]


def led():
    """The board's LED as a PWM output with duty_u16(0..65535); 65535 is full brightness."""
    global _led
    if _led is None:
        f = facts()
        if not f["led"][3]:
            raise ValueError("LED pin %r of %s cannot do PWM; wire an LED to a PWM pin" % (f["led"][0], board_id()))
        _led = _backend.led(f["led"])
    return _led


def i2c():
    """The sensor I2C bus (machine.I2C API: scan, readfrom_mem_into, writeto_mem), powered up."""
    return _open_bus(facts())


# --- the microphone -------------------------------------------------------------------------
# Every backend gives the same object (docs/architecture.md, "Microphones"):
#   RATE_HZ = 16000, block (samples per readinto), lost (blocks dropped since start()),
#   start(), stop(), readinto(buf) -> samples: fills buf, an array('h') of `block` samples,
#   with the next captured block of 16 kHz mono int16, waiting until it has been captured.
# Capture runs while the app works on the previous block (a double buffer); when the app is
# too slow, the oldest block is dropped and counted in `lost`. Nothing is allocated per block.
MIC_RATE_HZ = 16000
MIC_BLOCK = 512       # 32 ms of audio
_mic = None


def microphone(block=MIC_BLOCK):
    """The board's microphone (boards.json `microphone` for this firmware), not started yet.
    One per run: asking again gives the same object, and a different block size is an error."""
    global _mic
    if not isinstance(block, int) or not 16 <= block <= 16000 or block % 2:
        raise ValueError("microphone block must be an even number of samples in 16..16000, got %r" % (block,))
    if _mic is None:
        _mic = _backend.microphone(facts()["mic"], block)
    elif _mic.block != block:
        raise ValueError("the microphone is open with blocks of %d samples, not %d" % (_mic.block, block))
    return _mic


def _open_bus(f):
    # One bus object per run: a second busio.I2C on the same pins fails on CircuitPython. Boards
    # that share a firmware also share their sensor bus, so detection's bus is the board's bus.
    global _i2c
    if _i2c is None:
        _i2c = _backend.i2c(f["i2c"], f["power"], f["pullup"], f["sensors"])
    return _i2c


# --- waiting between inferences ---------------------------------------------------------------
# The apps sleep until their next inference in the deepest wait the port, the firmware and the
# links allow (boards.json power.sleep_modes, "sleep" in tinyml.boards): machine.lightsleep(ms)
# where the port has a timed one that keeps the USB serial link (or always with sleep="light",
# for a board on a battery) and keeps BLE if a link is open; else time.sleep_ms, an idle wait.
# Time awake and asleep is counted (ms, small ints: nothing allocated), so a board or the
# virtual board reports its duty cycle: power_stats().
IDLE = "idle"
LIGHT = "lightsleep"
_stats = [0, 0, 0, 0, 0, 0]  # asleep ms, asleep us remainder, wakeups, start ticks_ms, counting (0/1), overruns
_last_wait = [IDLE]


def wait_kind(ble=False, sleep="auto"):
    """The wait sleep_between uses: LIGHT or IDLE. sleep: "auto" (keep USB and BLE links alive),
    "light" (lightsleep where the port has a timed one and BLE survives it), "idle"."""
    if sleep not in ("auto", "light", "idle"):
        raise ValueError("sleep=%r: use 'auto', 'light' or 'idle'" % (sleep,))
    timed, keeps_ble, keeps_usb = facts()["sleep"]
    if sleep == "idle" or not timed or (ble and not keeps_ble):
        return IDLE
    return LIGHT if sleep == "light" or keeps_usb else IDLE


def sleep_between(ms, kind=IDLE):
    """Wait ms (an int) with `kind` (wait_kind()'s answer), counting the time asleep."""
    if not _stats[4]:
        _stats[3] = clock.ticks_ms()
        _stats[4] = 1
    t0 = clock.ticks_us()
    _backend.sleep(ms, kind == LIGHT)
    slept = clock.ticks_diff(clock.ticks_us(), t0)
    _stats[0] += slept // 1000
    _stats[1] += slept % 1000
    if _stats[1] >= 1000:
        _stats[0] += 1
        _stats[1] -= 1000
    _stats[2] += 1
    _last_wait[0] = kind


def power_stats():
    """(ms awake, ms asleep, wakeups, last wait kind) since the first sleep_between (or the last
    reset_power_stats()); awake is the time between, when the board ran."""
    if not _stats[4]:
        return (0, 0, 0, None)
    total = clock.ticks_diff(clock.ticks_ms(), _stats[3])
    asleep = _stats[0]
    return (total - asleep if total > asleep else 0, asleep, _stats[2], _last_wait[0] if _stats[2] else None)


def count_overrun():
    """A period the app overran: its inference ended after the next one was due, so no wait."""
    _stats[5] += 1


def overruns():
    """Periods overrun since the last reset_power_stats(): with wakeups, every period is counted."""
    return _stats[5]


def reset_power_stats():
    """Count from now (an app calls this as its loop starts)."""
    _stats[0] = _stats[1] = _stats[2] = _stats[5] = 0
    _stats[3] = clock.ticks_ms()
    _stats[4] = 1


def longest_match(text, boards, field):
    """Board id whose detect string boards[id][field] is the longest one found in text."""
    best = None
    for board, f in boards.items():
        key = f[field]
        if key and key in text and (best is None or len(key) > len(boards[best][field])):
            best = board
    if best is None:
        raise ValueError("unsupported board %r: not in boards.json" % text)
    return best
