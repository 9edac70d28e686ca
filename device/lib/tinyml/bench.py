# What `tinyml bench` measures on a board: latency, RAM and allocations per inference for each
# model and backend, and the apps' time awake and asleep. host/tinyml_host/bench.py runs this
# file's source on the board through Board.call and reports the rows. At the REPL:
#   from tinyml import bench; bench.models(["sine.tmdl"])
import gc

import tinyml
from tinyml import clock

INVOKES = 300


def _import(backend):
    """The backend's module imported before a load is measured: load imports it the first time
    it is asked for (tinyml.model._module), and that import is not the model's RAM."""
    from tinyml import model

    model._backend_module(backend)


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
            _import(backend)
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


_CHUNK = 16  # floats of the recording read at a time (a window is read twice: input, then error)


def autoencoder(path, backend, stream, recording, windows, step_bytes, n=4):
    """An autoencoder model (`tinyml demo ad01`) with one backend, best called right after a
    soft reset so that no earlier load has fragmented the heap: RAM its load takes, self-test,
    us and bytes allocated per invoke (n invokes), and the mean squared reconstruction error
    over `windows` float32 windows of the file `recording`, window w starting at byte
    w * step_bytes. A MemoryError from the load is a result: {"error": ...}. The demo
    (host/tinyml_host/ad01_demo.py) loads the model before it imports this module, then calls
    autoencoder_run: on a 128 KB heap, this module's code and objects before the load leave
    it fewer bytes in one piece."""
    _import(backend)
    gc.collect()
    free0, used0 = gc.mem_free(), gc.mem_alloc()
    try:
        m = tinyml.load(path, backend, stream=stream)
    except MemoryError as e:
        m = "MemoryError: %s" % e
    gc.collect()
    return autoencoder_run(m, backend, free0, gc.mem_alloc() - used0, recording, windows, step_bytes, n)


def autoencoder_run(m, backend, free0, ram, recording, windows, step_bytes, n=4):
    """autoencoder's figures for a model `m` loaded with free0 bytes free just before
    (gc.mem_free() after gc.collect()) that took `ram` bytes (gc.mem_alloc() after a
    gc.collect() just after the load, less the same before), or the MemoryError's text."""
    if isinstance(m, str):
        return {"backend": backend, "error": m, "heap_free": free0}
    from array import array

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
    inp, out = m.input, m.output
    n_in = len(inp)
    # a few floats at a time, not a window's buffer: made after the load, in a heap it has filled
    chunk = array("f", bytes(4 * _CHUNK))
    chunk_bytes = memoryview(chunk)
    total_error = 0.0
    with open(recording, "rb") as f:
        for w in range(windows):
            for second in (False, True):  # the input from the window, then the error against it
                f.seek(w * step_bytes)
                s = 0.0
                for i0 in range(0, n_in, _CHUNK):
                    k = n_in - i0 if n_in - i0 < _CHUNK else _CHUNK
                    f.readinto(chunk_bytes[:k] if k < _CHUNK else chunk)
                    for j in range(k):
                        if second:
                            d = chunk[j] - m.dequantize(out[i0 + j])
                            s += d * d
                        else:
                            inp[i0 + j] = m.quantize(chunk[j])
                if second:
                    total_error += s / n_in
                else:
                    invoke()
    return {"backend": backend, "ram": ram, "heap_free": free0, "selftest": "%d/%d" % (passed, total),
            "us": us, "alloc": alloc, "score": total_error / windows, "weights": getattr(m, "weights", None)}
