# The TinyML "hello world": a sine model sets the LED brightness.
import math

import tinyml
from tinyml import apps, clock, hal

MODEL = "sine.tmdl"
STEPS = 64          # inferences per sweep of x over [0, 2*pi)
PERIOD_MS = 20      # one inference and LED update every 20 ms: a 1.28 s glow cycle


def brightness(y):
    """Model output in [-1, 1] -> LED duty in [0, 65535]."""
    d = int((y + 1.0) * 32767.5)
    return 0 if d < 0 else 65535 if d > 65535 else d


def run(cycles=0, verbose=False, period_ms=PERIOD_MS, model=MODEL, telemetry=False, sleep="auto"):
    """Sweep x forever (cycles=0) or for `cycles` sweeps; print x, y, duty if verbose;
    stream "seq,x,y,duty" over BLE if telemetry (True; "serial": the REPL's serial line; or a link to keep; RX commands:
    rate N, led on|off, app NAME: returns apps.Switch to run that app next).
    Between inferences the board sleeps (hal.wait_kind: sleep="auto", "light" or "idle")."""
    m = tinyml.load(apps.model_path(model))
    led = hal.led()
    state = {"period_ms": period_ms, "led": True, "next": None}
    link = apps.link(telemetry, "tinyml-sine")
    if link:
        from tinyml.telemetry import SETTINGS

        # one frame per inference (the frames' x sweep), at most frame_rate_hz of them per
        # second: with telemetry the sweep steps at that rate (docs/telemetry.md, Power)
        if period_ms and period_ms < 1000 // SETTINGS["frame_rate_hz"]:
            state["period_ms"] = 1000 // SETTINGS["frame_rate_hz"]

        def command(name, arg):
            if name == "rate":
                state["period_ms"] = 1000 // arg
            elif name == "led":
                state["led"] = arg == "on"
            elif name == "app" and arg != "sine":
                state["next"] = apps.switchable(arg)

        link.on_command(command)
    if verbose:
        print("sine demo on %s, backend %s" % (hal.board_name(), m.backend))
    wait = hal.wait_kind(bool(link), sleep)
    hal.reset_power_stats()
    next_at = clock.ticks_ms()
    n = 0
    while not cycles or n < cycles * STEPS:
        x = 2 * math.pi * (n % STEPS) / STEPS
        y = m.predict(x)
        duty = brightness(y) if state["led"] else 0
        led.duty_u16(duty)
        if verbose:
            print("x=%.4f y=%.4f duty=%d" % (x, y, duty))
        if link:
            link.poll()
            if state["next"]:
                return apps.Switch(state["next"], link)
            link.send((x, y, duty))
        if state["period_ms"]:
            next_at = apps.pace(next_at, state["period_ms"], wait)
        n += 1
