# Load a .tmdl file (docs/format.md) and run its graph. load() checks the file, places every
# tensor in one arena and prepares every operator on one backend; invoke() is one loop over the
# prepared (run, plan, input, output) steps and allocates nothing.
#
# A backend is one module, tinyml._<name>, with a prepare and a run function per operator kind
# (_KERNELS: prepare(op) -> plan and fc(plan, x, out) for FULLY_CONNECTED, prepare_conv and conv
# for CONV_2D, ...); x and out are views of the arena, and ADD's prepare takes its second
# input's view. Adding a backend is adding a module and its name to BACKENDS; a backend without
# a kind's functions cannot load models that use it. A backend may also offer
# prepare_model(plans, scratch) and run(model, x, out), every layer of a chain of
# FULLY_CONNECTED ops in one call (native: one crossing into C per invoke); load() uses them
# for such models when their constants stay put (not streamed). Importing a backend's module
# raises ImportError (or SyntaxError, for viper on a port without the emitter) when this board
# cannot run it.
import gc
import sys
from array import array
from micropython import const

from tinyml import quant, reader

# RAM of load's objects beyond the buffers it sizes exactly (Contents, Op and Tensor objects,
# views, plans, steps), in machine words, measured on the unix port
# (tests/device/test_ram_budget.py holds the estimate above what load really takes, and close to it).
_WORD = 8 if sys.maxsize > 0x7FFFFFFF else 4
try:  # the pure-Python backend reads the bias and multipliers in place through uctypes, or keeps copies
    import uctypes  # type: ignore[import-not-found]  # noqa: F401
    _PYTHON_BIAS_COPY = 0
    _PYTHON_VIEW_WORDS = 36  # per weighted op: uctypes views of the bias (two) and multipliers (one), descriptors
    _WEIGHTS_COPIED_ONCE = True  # reader.int8_buffer: a bytearray, no temporary copy
except ImportError:
    _PYTHON_BIAS_COPY = 8  # bytes per output (the bias's halves twice); the multipliers' take half that
    _PYTHON_VIEW_WORDS = 12
    _WEIGHTS_COPIED_ONCE = False  # array('b', bytes(n)): a temporary copy as large
_MODEL_WORDS = const(224)
# per op, format 4 (measured on the unix port, AD01's 10 ops and the random MLPs): the Op (its
# table entry tuple and a small attribute table: reader.Op reads the rest through properties),
# its placed sections' buffer objects, its plan and its step
_OP_WORDS = const(106)
_TENSOR_WORDS = const(12)
_SOFTMAX_TABLE = const(1024)  # tinyml._python.prepare_softmax: exp of every int8 difference, 4 bytes each
# viper and python: ADD's two tables of each input's 256 scaled values (int32) and a zero bias chunk of 64
_ADD_TABLES = const(2 * 1024 + 4 * 64)

BACKENDS = ("native", "viper", "python")  # fastest first
# (prepare, run) function names of each operator kind, by the kind's code (tinyml.reader)
_KERNELS = (("prepare", "fc"), ("prepare_conv", "conv"), ("prepare_depthwise", "depthwise"),
            ("prepare_pool", "average_pool"), ("prepare_pool", "max_pool"), ("prepare_add", "add"),
            ("prepare_softmax", "softmax"))
_NUMBER = (int, float)  # one tuple: isinstance(x, (int, float)) would build one per predict()
_modules = {}
_problems = {}
for _name in BACKENDS:
    try:
        _modules[_name] = __import__("tinyml._" + _name, None, None, ("prepare",))
    except ImportError as e:
        _problems[_name] = str(e)
    except (SyntaxError, AttributeError):  # no viper code emitter on this port
        _problems[_name] = "this port has no viper code emitter"


def available_backends():
    """Backends this firmware can run, fastest first."""
    return tuple(b for b in BACKENDS if b in _modules)


def _backend_module(backend):
    if backend is None:
        backend = available_backends()[0]
    if backend not in BACKENDS:
        raise ValueError("unknown backend %r; choose one of %s" % (backend, ", ".join(BACKENDS)))
    if backend not in _modules:
        raise ValueError("backend %r is not available: %s" % (backend, _problems.get(backend, "")))
    return backend, _modules[backend]


def _kernels(module, backend, op):
    """The backend's (prepare, run) functions for op's kind; ValueError when it has none."""
    prepare_name, run_name = _KERNELS[op.kind]
    run = getattr(module, run_name, None)
    if run is None:
        others = [b for b in available_backends() if hasattr(_modules[b], run_name)]
        raise ValueError("backend %r cannot run %s yet%s" % (backend, op.name, "; load(path, %r) can" % others[0]
                                                             if others else ""))
    return getattr(module, prepare_name), run


def _chains(contents, backend):
    """True when load runs the whole model in one backend call (native, FULLY_CONNECTED only).
    Not when the arena plan puts the output over the input (the input is dead by the time the
    last op writes): the chain reads its input and writes its output in one call, and the C
    core refuses overlapping x and out."""
    x, y = contents.tensors[0], contents.tensors[-1]
    apart = x.offset + x.size <= y.offset or y.offset + y.size <= x.offset
    return backend == "native" and contents.is_dense and apart


def _needs(contents, backend):
    """Bytes load() keeps in RAM for this file and backend, per placement of the constants:
    {"filesystem", "stream", "romfs", "buffers", "peak", "stream_peak"}. buffers are the arena
    (every tensor at its planned place), the native chain's two hidden rows (native,
    FULLY_CONNECTED only, not streamed), the accumulator row (viper, python), the softmax
    kernel's table, and the float output list; "filesystem" also reads every op's constants
    into RAM (and "peak" adds the largest temporary copy while it does: an int32 section's, or
    with no uctypes an op's weights), "stream" one window as large as the largest op's, "romfs"
    none (a file at a 4-byte boundary). The pure-Python backend reads its bias and multipliers
    as 16-bit halves, copies where uctypes is missing (8 bytes per output, 4 per channel); the native one copies the multipliers and shifts
    it checked unless they are read-only (in ROMFS). quantize()'s thresholds take up to 1 KB."""
    ops = contents.ops
    matrices = [op for op in ops if op.kind <= reader.CONV_2D]
    buffers = contents.arena_bytes + _WORD * contents.n_out + 8
    if backend != "native" and matrices:
        buffers += 4 * max(op.n_out for op in matrices)
    convs = [op.n_in for op in ops if op.kind == reader.CONV_2D]
    if backend == "native":
        # _tinyml.conv's scratch, shared: tml_conv_scratch_bytes, 4 bytes per patch value (rounded
        # up to 4 values) and 4; SOFTMAX and ADD in C need no tables
        buffers += 4 * ((max(convs) + 3) // 4 * 4) + 4 if convs else 0
    else:
        buffers += max(convs) if convs else 0   # the shared im2col row (_python._cols)
        buffers += _SOFTMAX_TABLE * sum(op.kind == reader.SOFTMAX for op in ops)
        buffers += _ADD_TABLES * sum(op.kind == reader.ADD for op in ops)
    chain = 2 * max(op.n_out for op in ops[:-1]) if _chains(contents, backend) and len(ops) > 1 else 0
    sections = [op.length for op in ops]
    objects = _WORD * (_MODEL_WORDS + _OP_WORDS * len(ops) + _TENSOR_WORDS * len(contents.tensors))
    # quantize()'s thresholds (tinyml.quant): two array('H') of one entry per reachable int8 step
    objects += 4 * max(127 - contents.input_zp, 128 + contents.input_zp) + 8 * _WORD
    extra = 0
    copies = 0
    for op in ops:
        if backend == "python" and op.weighted:
            extra += _PYTHON_BIAS_COPY * op.bias_count + _PYTHON_BIAS_COPY // 2 * op.n_channels + _WORD * _PYTHON_VIEW_WORDS
        if backend == "native" and op.weighted:  # a plan's copy of writable multipliers and shifts
            copies += 4 * op.n_channels + (op.n_channels + 3) // 4 * 4
    base = buffers + objects + extra
    needs = {"buffers": buffers + chain, "romfs": base + chain,
             "stream": base + max(sections) + copies,
             "filesystem": base + chain + sum(sections) + copies}
    needs["peak"] = needs["filesystem"] + max(4 * op.bias_count if _WEIGHTS_COPIED_ONCE else op.length
                                              for op in ops)
    # the stream window, made where uctypes is missing as array('b', bytes(n)), has a
    # temporary copy as large while it is made
    needs["stream_peak"] = needs["stream"] + (0 if _WEIGHTS_COPIED_ONCE else max(sections))
    return needs


def _check_budget(path, needs, placement, held=0):
    """MemoryError before allocating, when the heap cannot hold what load needs (of which
    `held` bytes, the stream window, are allocated already)."""
    if not hasattr(gc, "mem_free"):  # CPython standing in for a board in tests: no heap limit
        return
    gc.collect()
    free = gc.mem_free()
    if _need(needs, placement) - held > free:
        raise MemoryError(_too_big(path, needs, placement, free + held, ""))


def _need(needs, placement):
    return needs["peak" if placement == "filesystem" else "stream_peak" if placement == "stream" else placement]


def _too_big(path, needs, placement, free, why):
    if placement == "romfs":
        remedy = "a smaller model (fewer or narrower layers) or a board with more RAM"
    else:
        remedy = ("deploy it to ROMFS, where its weights stay in flash (`tinyml deploy --romfs`): "
                  "load then needs about %d bytes" % needs["romfs"])
        if placement == "filesystem":
            remedy += (", or load(path, stream=True), which reads one layer at a time: about %d bytes"
                       % needs["stream"])
    return ("tinyml.load(%r): needs about %d bytes of RAM (%s), %d bytes are free%s; %s"
            % (path, _need(needs, placement), "weights in place" if placement == "romfs" else
               "streamed" if placement == "stream" else "whole model in RAM", free, why, remedy))


def ram_needed(path, backend=None):
    """What load(path, backend) needs in RAM, from the file's tables alone: a dict of bytes by
    placement ("filesystem", "stream", "romfs"), plus "buffers" (the arena and the other
    buffers every placement has), "peak" (filesystem, with a section's temporary copy) and
    "stream_peak" (stream, with the window's temporary copy where uctypes is missing)."""
    backend = _backend_module(backend)[0]
    with open(path, "rb") as f:
        return _needs(reader.read(f, reader.image_of(f)), backend)


class _Streamed:
    """Runs an op with its constants read from the file, into the one window every op shares,
    just before it runs. seek and readinto into a view made at load allocate nothing."""

    def __init__(self, f):
        self.file = f

    def run(self, plan, x, out):
        at, view, run, inner = plan
        f = self.file
        if f is None:
            raise ValueError("the streamed model's file is closed: load it again")
        f.seek(at)
        if f.readinto(view) != len(view):
            raise ValueError("streamed .tmdl: the file ended early (changed since load?)")
        run(inner, x, out)


class Model:
    """An int8 graph loaded from a .tmdl file.

    input, output: views (int8) of the model's input and output tensors in its arena;
    invoke() runs input -> output. predict(x) quantizes float(s), invokes, and dequantizes
    (a model ending in SOFTMAX gives probabilities). layers: the reader's Op objects (named
    fields), in the order they run; the golden vectors stay in the file until selftest()
    reads them. weights: where the ops' constants are: "RAM" (read from an ordinary file),
    "in place" (a file with the buffer protocol, in ROMFS), "in place, int32 copied" (such a
    file not at a 4-byte boundary: bias, multipliers and params copied to RAM), or "streamed"
    (load(path, stream=True) from an ordinary file: each op's constants read into one window
    just before it runs in invoke(); the file stays open until close()).
    """

    def __init__(self, path, backend=None, stream=False):
        self.backend, module = _backend_module(backend)
        self.path = path
        self._file = None
        self._streamed = None
        f = open(path, "rb")
        try:
            image = reader.image_of(f)
            # a streamed model's window, the largest piece, before the reader's many small ones
            streamed = stream and image is None
            window = reader.stream_window(f) if streamed else None
            contents = reader.read(f, image)
            largest = max(op.length for op in contents.ops)
            if streamed and (window is None or len(window[0]) != largest):  # read() checked the table
                window = None
                window = reader.int8_buffer(largest)
            self.ram_needed = needs = _needs(contents, self.backend)
            placement = "romfs" if image is not None else "stream" if stream else "filesystem"
            _check_budget(path, needs, placement, len(window[0]) if window else 0)
            try:
                self._place(f, image, contents, module, window)
            except MemoryError:
                # enough bytes free in all, but not in one piece: the heap is fragmented
                self._file = None
                contents = None
                gc.collect()
                raise MemoryError(_too_big(path, needs, placement, gc.mem_free() if hasattr(gc, "mem_free") else 0,
                                           ", but not in one piece (load models early, after a reset)"))
        finally:
            if self._file is None:
                f.close()

    def _place(self, f, image, contents, module, window):
        if image is not None:  # ROMFS: every op's constants stay in flash
            self.weights = "in place" if reader.place_in_image(image, contents) else "in place, int32 copied"
            self._setup(contents, module)
        elif window is not None:  # load(path, stream=True) of an ordinary file
            self.weights = "streamed"
            self._file = f
            self._setup_streamed(f, contents, module, window)
        else:
            reader.place_in_ram(f, contents)
            self.weights = "RAM"
            self._setup(contents, module)

    def _setup_streamed(self, f, contents, module, window):
        # Every op's constants live in one window, refilled from the file before it runs. Each
        # op is prepared while its own constants are in the window: the native plan copies the
        # multipliers and shifts it checked, the python plan splits the bias into pieces.
        window, signed = window
        window = memoryview(window)
        self._streamed = streamed = _Streamed(f)

        def prepare(prepare_kind, run, op, i, *more):
            if not op.length:
                return run, prepare_kind(op, *more)
            view = reader.place_in_window(f, op, window, signed, i)
            return streamed.run, (op.at, view, run, prepare_kind(op, *more))

        self._setup(contents, module, prepare)

    def close(self):
        """Close the model file a streamed model keeps open (invoke() needs it until then)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            streamed = self._streamed
            if streamed is not None:
                streamed.file = None

    def _setup(self, contents, module, prepare=None):
        self.rounding = reader.ROUNDING_NAMES[contents.rounding]
        self.softmax = contents.softmax
        self.input_scale, self.input_zp = contents.input_scale, contents.input_zp
        self.output_scale, self.output_zp = contents.output_scale, contents.output_zp
        self.n_vectors = contents.n_vectors
        self._vectors_at = contents.vectors_at
        self.labels = contents.labels  # the output classes' names, or None
        self._frontend_at = contents.frontend_at
        self.layers = ops = contents.ops
        self.tensors = tensors = contents.tensors
        self._arena = array("b", bytes(contents.arena_bytes))
        arena = memoryview(self._arena)
        views = [arena[t.offset:t.offset + t.size] for t in tensors]
        self.input = views[0]
        self.output = views[-1]
        self._borrowed = getattr(module, "BORROWED", {})
        steps = []
        for i, op in enumerate(ops):
            prepare_kind, run = _kernels(module, self.backend, op)
            more = () if op.x2 is None else (views[op.x2],)
            if prepare is None:
                step = run, prepare_kind(op, *more)
            else:
                step = prepare(prepare_kind, run, op, i, *more)
            steps.append((step[0], step[1], views[op.x], views[op.y]))
        self._steps = tuple(steps)
        self._whole = self._run = None
        if prepare is None and _chains(contents, self.backend) and hasattr(module, "prepare_model"):
            # the hidden activations alternate between the two halves of one scratch array
            widest = max(op.n_out for op in ops[:-1]) if len(ops) > 1 else 0
            self._whole = module.prepare_model([plan for _, plan, _, _ in steps], array("b", bytes(2 * widest)))
            self._run = module.run
        self._result = [0.0] * contents.n_out
        self._bits = bytearray(4)
        self._thresholds = quant.thresholds(contents.input_scale_halves, self.input_zp)

    def invoke(self):
        """Run self.input -> self.output with integer arithmetic. Allocates nothing."""
        if self._run is not None:  # set together with self._whole, by a backend that runs whole models
            self._run(self._whole, self.input, self.output)
            return
        for run, plan, x, out in self._steps:
            run(plan, x, out)

    def quantize(self, value):
        """TFLite's int8 for a float, bit-exact on doubles, float32 and CircuitPython's 30-bit
        floats (tinyml.quant). Allocates nothing."""
        high, low = self._thresholds
        return quant.quantize(value, self._bits, high, low, self.input_zp)

    def dequantize(self, q):
        return (q - self.output_zp) * self.output_scale

    def predict(self, x):
        """Float (or sequence of floats) in; float (or list) out (probabilities after a SOFTMAX)."""
        inp = self.input
        if isinstance(x, _NUMBER):
            if len(inp) != 1:
                raise ValueError("model takes %d inputs, got one number" % len(inp))
            inp[0] = self.quantize(x)
        else:
            if len(x) != len(inp):
                raise ValueError("model takes %d inputs, got %d" % (len(inp), len(x)))
            for i in range(len(inp)):
                inp[i] = self.quantize(x[i])
        self.invoke()
        out = self.output_values()
        return out[0] if len(out) == 1 else list(out)

    def output_values(self):
        """The last invoke()'s output as floats (probabilities for a model ending in SOFTMAX).
        Returns the same list object every time: copy it to keep a result."""
        out = self._result
        for i in range(len(out)):
            out[i] = self.dequantize(self.output[i])
        return out

    def frontend_config(self):
        """The front end the model was trained on, as the bytes the file holds (tinyml.features
        reads them), or None for a model without one. Read from the file now: load() keeps it out
        of RAM."""
        if self._frontend_at is None:
            return None
        at, n = self._frontend_at
        with open(self.path, "rb") as f:
            f.seek(at)
            return f.read(n)

    def selftest(self, verbose=False):
        """Run the golden vectors stored in the file (read from it now); return (passed, total)."""
        n_in, n_out = len(self.input), len(self.output)
        expected = array("b", bytes(n_out))
        passed = 0
        with open(self.path, "rb") as f:
            outputs_at = self._vectors_at + n_in * self.n_vectors + (-(n_in * self.n_vectors) % 4)
            for v in range(self.n_vectors):
                f.seek(self._vectors_at + v * n_in)
                f.readinto(self.input)
                f.seek(outputs_at + v * n_out)
                f.readinto(expected)
                self.invoke()
                ok = bytes(self.output) == bytes(expected)
                passed += ok
                if verbose and not ok:
                    print("vector %d: got %s expected %s" % (v, list(self.output), list(expected)))
        return passed, self.n_vectors

    @property
    def param_bytes(self):
        return sum(op.length for op in self.layers)

    @property
    def ram_bytes(self):
        """Bytes of the buffers invoke() and predict() work in (the arena and scratch; weights excluded)."""
        return self.ram_needed["buffers"]

    def info(self):
        lines = ["tinyml model %s: backend %s, rounding %s, weights %s" % (self.path, self.backend, self.rounding,
                                                                           self.weights),
                 "  input  %s int8, scale %g, zero point %d" % (_shape(self.tensors[0]), self.input_scale,
                                                                self.input_zp)]
        for n, op in enumerate(self.layers):
            lines.append("  layer %d: %s" % (n, self._describe(op)))
        lines.append("  output %s int8, scale %g, zero point %d" % (_shape(self.tensors[-1]), self.output_scale,
                                                                   self.output_zp))
        lines.append("  %d parameter bytes, %d RAM bytes for the arena and buffers, %d golden vectors"
                     % (self.param_bytes, self.ram_bytes, self.n_vectors))
        needs = self.ram_needed
        lines.append("  load needs about %d bytes of RAM from the filesystem, %d streamed, %d from ROMFS"
                     % (needs["filesystem"], needs["stream"], needs["romfs"]))
        return "\n".join(lines)

    def _describe(self, op):
        t = self.tensors
        kind = op.kind
        if kind == reader.FULLY_CONNECTED:
            text = "dense %d -> %d" % (op.n_in, op.n_out)
        elif kind == reader.ADD:
            text = "add %s + %s" % (_shape(t[op.x]), _shape(t[op.x2]))
        elif kind == reader.SOFTMAX:
            text = "softmax %s" % _shape(t[op.x])
        else:
            text = "%s %dx%d stride %d,%d %s -> %s" % (
                ("conv", "depthwise conv", "average pool", "max pool")[kind - 1], op.filter_h, op.filter_w,
                op.stride_h, op.stride_w, _shape(t[op.x]), _shape(t[op.y]))
        if op.weighted:
            text += ", %s weight scales" % ("per-channel" if op.n_channels > 1 else "per-tensor")
        if op.act_min > -128 or op.act_max < 127:
            text += ", activation [%d, %d]" % (op.act_min, op.act_max)
        if _KERNELS[kind][1] in self._borrowed:
            text += " (%s)" % self._borrowed[_KERNELS[kind][1]]
        return text

    def __repr__(self):
        shape = "->".join([str(self.tensors[0].size)] + [str(self.tensors[op.y].size) for op in self.layers])
        return "<Model %s %s backend=%s>" % (self.path, shape, self.backend)


def _shape(t):
    return str(t.c) if t.h == t.w == 1 else "%dx%dx%d" % (t.h, t.w, t.c)


def load(path, backend=None, stream=False):
    """Load a .tmdl model; backend None picks native, then viper, then python.

    A file that supports the buffer protocol (ROMFS, /rom) is used in place. From an
    ordinary filesystem the whole model is read into RAM, or with stream=True each layer
    is read into one window just before it runs, in every invoke() (RAM: the largest
    layer's weights and quantization; slower by the file reads)."""
    try:
        return Model(path, backend, stream)
    except OSError as e:
        if path.startswith("/rom/"):
            _romfs_missing(path)
        raise e


def _romfs_missing(path):
    import os
    try:
        os.stat("/rom")
    except OSError:
        raise OSError("%s: ROMFS is not mounted at /rom (no partition in this firmware, or no valid image "
                      "in it); put models there with `tinyml deploy --romfs`" % path)
    raise OSError("%s is not in /rom: `tinyml deploy --romfs --model FILE` puts it there" % path)


def selftest(path, backend=None, verbose=True):
    """Check the model's golden vectors on this board; True when all pass."""
    m = Model(path, backend)
    passed, total = m.selftest(verbose)
    if verbose:
        print("selftest %s (%s): %d/%d vectors pass" % (path, m.backend, passed, total))
    return total > 0 and passed == total
