"""Apps that sleep between inferences: the wait each board allows (boards.json power.sleep_modes),
the time helper on MicroPython, and the duty cycle the virtual board measures."""

import pytest

import models
from mpy import ROOT, lines_with, micropypath, run
from tinyml_host import export, tmdl


def _env(tmp_path, board):
    return {"MICROPYPATH": micropypath(ROOT / "device"), "TINYML_BOARD": board,
            "TINYML_SIM_DIR": str(tmp_path)}


def test_clock_is_micropythons_own_time_on_micropython(tmp_path):
    out = run("import time\nfrom tinyml import clock\n"
              "print('SAME', clock.ticks_ms is time.ticks_ms, clock.ticks_us is time.ticks_us,"
              " clock.ticks_diff is time.ticks_diff, clock.ticks_add is time.ticks_add, clock.sleep_ms is time.sleep_ms,"
              " clock.sleep_us is time.sleep_us)")
    assert lines_with("SAME", out) == ["True True True True True True"]


@pytest.mark.parametrize("board, ble, sleep, kind", [
    ("nano33_ble_sense", False, "auto", "idle"),       # nrf: lightsleep is one WFE, not timed
    ("nano33_ble_sense", False, "light", "idle"),
    ("esp32", False, "auto", "idle"),                  # light sleep stops the UART (the REPL)
    ("esp32", False, "light", "lightsleep"),           # on a battery: asked for
    ("esp32", True, "light", "idle"),                  # light sleep powers the radio down
    ("pico", False, "auto", "lightsleep"),             # rp2: a timed lightsleep keeps USB
    ("pico_w", True, "auto", "idle"),                  # BLE through lightsleep: not documented
    ("pico_w", False, "idle", "idle"),
])
def test_wait_kind_follows_the_boards_sleep_modes(tmp_path, board, ble, sleep, kind):
    out = run(f"from tinyml import hal\nprint('KIND', hal.wait_kind({ble}, {sleep!r}))", env=_env(tmp_path, board))
    assert lines_with("KIND", out) == [kind]


def test_wait_kind_refuses_an_unknown_mode(tmp_path):
    out = run("from tinyml import hal\ntry:\n    hal.wait_kind(False, 'deep')\nexcept ValueError as e:\n"
              "    print('ERR', e)", env=_env(tmp_path, "pico"))
    assert "sleep='deep'" in lines_with("ERR", out)[0]


def test_pacing_allocates_nothing(tmp_path):
    # the unix port's own time.sleep_ms allocates now and then (its event poll), so the backend's
    # sleep is a no-op here: what is counted is tinyml's pacing and bookkeeping
    out = run("""
import gc
from tinyml import apps, clock, hal
class NoSleep:
    def sleep(self, ms, light):
        pass
kind = hal.wait_kind(False, 'auto')
hal._backend = NoSleep()
hal.reset_power_stats()
t = clock.ticks_ms()
for _ in range(5):                 # warm-up: the script's own globals (_, before) exist first
    t = apps.pace(t, 2, kind)
before = 0
gc.collect()
before = gc.mem_alloc()
for _ in range(200):
    t = apps.pace(t, 2, kind)
print('ALLOC', gc.mem_alloc() - before)
""", env=_env(tmp_path, "pico"))
    assert lines_with("ALLOC", out) == ["0"]


def test_an_overrun_period_is_counted_and_not_slept(tmp_path):
    out = run("""
from tinyml import apps, clock, hal
class Recorder:
    waits = []
    def sleep(self, ms, light):
        self.waits.append(ms)
kind = hal.wait_kind(False, 'auto')
hal._backend = Recorder()
hal.reset_power_stats()
now = clock.ticks_ms()
apps.pace(clock.ticks_add(now, -1000), 20, kind)   # due 980 ms ago: the inference overran
apps.pace(clock.ticks_add(now, -1000), 20, kind)
apps.pace(now, 500, kind)                          # due in 500 ms: a wait
print('N', hal.overruns(), hal.power_stats()[2], len(Recorder.waits), 400 < Recorder.waits[0] <= 500)
hal.reset_power_stats()
print('R', hal.overruns())
""", env=_env(tmp_path, "pico"))
    assert lines_with("N", out) == ["2 1 1 True"]
    assert lines_with("R", out) == ["0"]


def test_motion_app_spends_most_of_its_time_asleep_on_the_virtual_board(tmp_path):
    """At its default rate (a sample every 20 ms, an inference every 8 samples) the motion app
    sleeps between samples; the hal counts the time (the unix port's clock, not a board's)."""
    (tmp_path / "motion.tmdl").write_bytes(tmdl.encode(export.convert(models.motion_tflite())))
    out = run("""
from tinyml import clock, hal
from tinyml.apps import motion
t0 = clock.ticks_ms()
motion.run(inferences=4)
wall = clock.ticks_diff(clock.ticks_ms(), t0)
awake, asleep, wakeups, kind = hal.power_stats()
print('STATS', wall, awake, asleep, wakeups, hal.overruns(), kind)
""", cwd=tmp_path, env=_env(tmp_path, "pico"))
    wall, awake, asleep, wakeups, overruns, kind = lines_with("STATS", out)[0].split()
    wall, awake, asleep, wakeups, overruns = int(wall), int(awake), int(asleep), int(wakeups), int(overruns)
    # 16 + 3 * 8 = 40 samples, a wait after each of up to 20 ms, except after a period a loaded
    # host overran (counted); a wait may last longer than asked (the host's scheduler), and the
    # hal counts what it really lasted
    assert wakeups + overruns == 40 and wakeups > overruns and kind == "lightsleep"
    assert 0 < asleep <= wall and awake + asleep <= wall + 2
    assert asleep / (awake + asleep) > 0.5, (awake, asleep)
