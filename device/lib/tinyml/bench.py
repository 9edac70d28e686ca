# What `tinyml bench` measures on a board: latency, RAM and allocations per inference for each
# model and backend, and the apps' time awake and asleep. host/tinyml_host/bench.py runs this
# file's source on the board through Board.call and reports the rows. At the REPL:
#   from tinyml import bench; bench.models(["sine.tmdl"])
import gc

import tinyml
from tinyml import clock

INVOKES = 300


def _load(name, backend):
    try:
        return tinyml.load(name, backend)
    except OSError:
        raise ValueError("%s is not on the board: `tinyml deploy --model %s` copies it" % (name, name))
    except ValueError as e:
        raise ValueError("%s on the board: %s" % (name, e))


def invoke_cost(m, n=INVOKES):
    """(microseconds, bytes allocated) per m.invoke(), each averaged over n invokes."""
    invoke = m.invoke
    invoke()
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(n):
        invoke()
    allocated = gc.mem_alloc() - a0
    # timed apart from the allocation count: reading the clock may itself allocate on some ports
    t0 = clock.ticks_us()
    for _ in range(n):
        invoke()
    return clock.ticks_diff(clock.ticks_us(), t0) / n, allocated / n


def models(names, n=INVOKES):
    """One row per model file in `names` and backend available here: us and alloc per invoke,
    RAM the loaded model holds, and its golden vectors' self-test ("passed/total")."""
    rows = []
    for name in names:
        for backend in tinyml.available_backends():
            gc.collect()
            free0 = gc.mem_free()
            m = _load(name, backend)
            gc.collect()
            ram = free0 - gc.mem_free()
            passed, total = m.selftest()
            us, alloc = invoke_cost(m, n)
            rows.append({"model": name, "backend": backend, "us": us, "alloc": alloc, "ram": ram,
                         "selftest": "%d/%d" % (passed, total)})
            del m
    return rows


def duty(runs, sleep="auto"):
    """Each app of `runs` ((name, options) pairs) whose model is on the board runs with its
    options (a short while: a few inferences), then tinyml.hal.power_stats() says how long the
    board was awake and asleep; one row per app that ran."""
    import os

    from tinyml import apps, hal

    rows = []
    for name, options in runs:
        module = __import__("tinyml.apps." + name, None, None, ("run", "MODEL"))
        try:
            os.stat(apps.model_path(module.MODEL))
        except OSError:
            continue
        module.run(sleep=sleep, **options)
        awake, asleep, wakeups, wait = hal.power_stats()
        rows.append({"app": name, "board": hal.board_id(), "awake_ms": awake, "asleep_ms": asleep,
                     "wakeups": wakeups, "wait": wait, "options": options})
    return rows
