# What `tinyml bench` measures on a board: latency, RAM and allocations per inference for each
# model and backend, and the apps' time awake and asleep. host/tinyml_host/bench.py runs this
# file's source on the board through Board.call and reports the rows. At the REPL:
#   from tinyml import bench; bench.models(["sine.tmdl"])
import gc

import tinyml
from tinyml import clock

INVOKES = 300


def _load(name, backend, stream=False):
    try:
        return tinyml.load(name, backend, stream=stream)
    except OSError:
        raise ValueError("%s is not on the board: `tinyml deploy --model %s` copies it" % (name, name))
    except ValueError as e:
        raise ValueError("%s on the board: %s" % (name, e))


class _Counting:
    """Stands in for a streamed model's file for one invoke(): counts the reads and bytes."""

    def __init__(self, f):
        self.f = f
        self.reads = self.bytes = 0

    def seek(self, at):
        return self.f.seek(at)

    def readinto(self, buf):
        n = self.f.readinto(buf)
        self.reads += 1
        self.bytes += n
        return n


def stream_reads(m):
    """(file reads, bytes read) of one invoke() of a streamed model, counted as they happen."""
    streamed = m._streamed
    f = streamed.file
    counting = streamed.file = _Counting(f)
    try:
        m.invoke()
    finally:
        streamed.file = f
    return counting.reads, counting.bytes


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


def models(names, n=INVOKES, stream=True):
    """One row per model file in `names`, backend available here and way of loading it (weights
    in RAM, and with stream=True streamed: load(name, backend, stream=True)): us and alloc per
    invoke, RAM the loaded model holds, its golden vectors' self-test ("passed/total"), and,
    streamed, the file reads and bytes one invoke() makes."""
    rows = []
    for name in names:
        for backend in tinyml.available_backends():
            for streamed in (False, True) if stream else (False,):
                gc.collect()
                free0 = gc.mem_free()
                m = _load(name, backend, streamed)
                gc.collect()
                ram = free0 - gc.mem_free()
                passed, total = m.selftest()
                us, alloc = invoke_cost(m, n)
                row = {"model": name, "backend": backend, "way": "streamed" if streamed else m.weights, "us": us,
                       "alloc": alloc, "ram": ram, "selftest": "%d/%d" % (passed, total)}
                if streamed:
                    row["reads"], row["read_bytes"] = stream_reads(m)
                    m.close()
                rows.append(row)
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
                     "wakeups": wakeups, "overruns": hal.overruns(), "wait": wait, "options": options})
    return rows


def autoencoder(path, backend, stream, recording, windows, step_bytes, n=4):
    """An autoencoder model (`tinyml demo ad01`) with one backend, best called right after a
    soft reset so that no earlier load has fragmented the heap: RAM its load takes, self-test,
    us and bytes allocated per invoke (n invokes), and the mean squared reconstruction error
    over `windows` float32 windows of the file `recording`, window w starting at byte
    w * step_bytes. A MemoryError from the load is a result: {"error": ...}."""
    from array import array

    # the recording's window buffer first: the bench's own, not the model's, and not left to
    # find a piece in the heap the load has just filled (2,560 bytes for AD01's 640 floats);
    # its size is the input tensor's, the first entry after the 16-byte header and the 28-byte
    # model block (docs/format.md)
    import struct

    with open(path, "rb") as f:
        f.seek(16 + 28)
        h, w, c = struct.unpack("<HHH", f.read(6))
    row = array("f", bytes(4 * h * w * c))
    gc.collect()
    free0, used0 = gc.mem_free(), gc.mem_alloc()
    try:
        m = tinyml.load(path, backend, stream=stream)
    except MemoryError as e:
        return {"backend": backend, "error": "MemoryError: %s" % e, "heap_free": free0}
    gc.collect()
    ram = gc.mem_alloc() - used0
    passed, total = m.selftest()
    invoke = m.invoke
    invoke()
    t0 = clock.ticks_us()
    for _ in range(n):
        invoke()
    us = clock.ticks_diff(clock.ticks_us(), t0) / n
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(n):
        invoke()
    alloc = (gc.mem_alloc() - a0) / n
    n_in = len(m.input)
    total_error = 0.0
    with open(recording, "rb") as f:
        for w in range(windows):
            f.seek(w * step_bytes)
            f.readinto(row)
            for i in range(n_in):
                m.input[i] = m.quantize(row[i])
            invoke()
            out = m.output
            s = 0.0
            for i in range(n_in):
                d = row[i] - m.dequantize(out[i])
                s += d * d
            total_error += s / n_in
    return {"backend": backend, "ram": ram, "heap_free": free0, "selftest": "%d/%d" % (passed, total),
            "us": us, "alloc": alloc, "score": total_error / windows, "weights": getattr(m, "weights", None)}
