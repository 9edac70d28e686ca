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
# for such models when their constants stay put (not streamed), and scatter(), a streamed
# CONV_2D's block copied to its channels (native, viper; model.py's own loop otherwise: a load imports
# no module but its backend's, which it imports before its RAM check). Importing a backend's module
# raises ImportError (or SyntaxError, for viper on a port without the emitter) when this board
# cannot run it. Backends are imported when first asked for (_module): load(path, "native")
# imports only native; available_backends() asks each without importing viper's or python's.
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

# load(path, stream=True) reads each layer's weights a block of output rows at a time: about
# this many bytes, in whole groups of 8 rows (stream=N asks for N). Each block costs a little
# RAM beside the window, so the default sits where the two balance for models of AD01's size
# (docs/models.md: RAM and reads per invoke for 1, 4, 8 and 16 KB).
DEFAULT_BLOCK = const(8192)
# per streamed block, in words (measured on the unix port, tests/device/test_ram_budget.py):
# its step and plan tuples and the views it runs on, and where the backend prepares each
# block as an op of its own (native; any backend's convolutions) that op's plan
_BLOCK_WORDS = {"native": 38, "viper": 54, "python": 70}
# and on top for a block of a convolution (its geometry in the plan)
_CONV_BLOCK_WORDS = {"native": 16, "viper": 34, "python": 30}
# a FULLY_CONNECTED's block where the backend sums blocks on one plan of the layer (fc_rows):
# the step and its plan tuple only; that one plan, per layer
_SUMMED_BLOCK_WORDS = const(20)
_SUMMED_PLAN_WORDS = {"viper": 20, "python": 24}
# per op streamed, in words (as _OP_WORDS, measured): the Op, its quantization's arrays
_STREAM_OP_WORDS = const(74)

BACKENDS = ("native", "viper", "python")  # fastest first
# (prepare, run) function names of each operator kind, by the kind's code (tinyml.reader)
_KERNELS = (("prepare", "fc"), ("prepare_conv", "conv"), ("prepare_depthwise", "depthwise"),
            ("prepare_pool", "average_pool"), ("prepare_pool", "max_pool"), ("prepare_add", "add"),
            ("prepare_softmax", "softmax"))
_NUMBER = (int, float)  # one tuple: isinstance(x, (int, float)) would build one per predict()
_modules = {}  # type: dict
_problems = {}  # type: dict


def _module(name):
    """The backend's module, imported the first time it is asked for (None where this board
    cannot run it): a run with one backend does not spend heap on the others (viper's is
    compiled on the board, tens of KB of heap that a load on a small board needs)."""
    if name not in _modules and name not in _problems:
        try:
            _modules[name] = __import__("tinyml._" + name, None, None, ("prepare",))
        except ImportError as e:
            _problems[name] = str(e)
        except (SyntaxError, AttributeError):  # no viper code emitter on this port
            _problems[name] = "this port has no viper code emitter"
        except MemoryError:   # not a problem of the board's: another try, on an emptier heap, may fit
            gc.collect()
            others = [b for b in BACKENDS if b != name and _runs_here(b)]
            raise MemoryError("tinyml: the %s backend's code did not fit in the heap (%d bytes free)%s; load "
                              "models first thing after boot, before other work fills the heap%s"
                              % (name, gc.mem_free(), ": viper's is compiled on the board at its first use, "
                                 "tens of KB in large pieces" if name == "viper" else "",
                                 ", or choose backend %s" % " or ".join(repr(b) for b in others) if others else ""))
    return _modules.get(name)


def _runs_here(name):
    """Whether this board can run the backend, found without compiling viper's kernels: its
    module is source (viper code in a .mpy would be one architecture's), which the board compiles
    at import, tens of KB of heap in large pieces (on the virtual Nano, with the app main.py
    started at power-on still in the heap, more than was left). viper: whether this port has the
    viper code emitter (a one-line function compiled); python: pure Python, every port runs it;
    native: its import (small), which checks _tinyml's architecture and ABI."""
    if name in _modules:
        return True
    if name in _problems:
        return False
    if name == "python":
        return True
    if name == "viper":
        import micropython
        try:
            exec("@micropython.viper\ndef f(x: int) -> int:\n    return x", {"micropython": micropython})
            return True
        except (SyntaxError, AttributeError, NameError):  # no emitter (CPython's stand-in: no viper)
            _problems[name] = "this port has no viper code emitter"
            return False
    return _module(name) is not None


def available_backends():
    """Backends this firmware can run, fastest first. Asking imports no backend but native's
    (small): a backend's module is imported by the first load() that uses it."""
    return tuple(b for b in BACKENDS if _runs_here(b))


def _backend_module(backend):
    if backend is None:
        for b in BACKENDS:
            if _module(b) is not None:
                backend = b
                break
        else:
            raise ValueError("no backend is available: %s" % "; ".join(_problems.values()))
    if backend not in BACKENDS:
        raise ValueError("unknown backend %r; choose one of %s" % (backend, ", ".join(BACKENDS)))
    if _module(backend) is None:
        raise ValueError("backend %r is not available: %s" % (backend, _problems.get(backend, "")))
    return backend, _modules[backend]


def _kernels(module, backend, op):
    """The backend's (prepare, run) functions for op's kind; ValueError when it has none."""
    prepare_name, run_name = _KERNELS[op.kind]
    run = getattr(module, run_name, None)
    if run is None:
        others = [b for b in available_backends() if hasattr(_module(b), run_name)]
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


def _rows_per_block(op, block):
    """Output rows (FULLY_CONNECTED) or channels (CONV_2D) a streamed op reads at a time: as many
    whole groups of 8 (the weight layout's unit, docs/format.md: rows r0 to r1, r0 a multiple
    of 8, are the bytes r0 x n_in to r1 x n_in) as `block` bytes hold, at least one group, at
    most all; DEPTHWISE_CONV_2D, whose channels are interleaved in the file: all."""
    n = op.bias_count
    if op.kind > reader.CONV_2D:
        return n
    rows = block // op.n_in // 8 * 8
    rows = rows if rows > 8 else 8
    return rows if rows < n else n


def stream_reads(contents, block=DEFAULT_BLOCK):
    """(window, reads, bytes) of load(path, stream=block): the window's size (the largest block),
    and the file reads and bytes read per invoke() (one read per block of every weighted op)."""
    window = reads = total = 0
    for op in contents.ops:
        if op.weighted:
            rows = _rows_per_block(op, block)
            size = rows * op.weight_bytes // op.bias_count
            window = size if size > window else window
            reads += (op.bias_count + rows - 1) // rows
            total += op.weight_bytes
    return window, reads, total


def _stream_ram(contents, backend, block, base):
    """RAM of load(path, stream=block) beside `base` (objects, quantize()'s thresholds): the
    buffers (the accumulator row as wide as the widest block), the window, every weighted op's
    bias (and, by backend, its quantization: viper and python keep the arrays, native its checked
    copy), a CONV_2D's output block when it takes more than one, and the blocks'
    plans and views."""
    window = stream_reads(contents, block)[0]
    ram = base + window + _WORD * _STREAM_OP_WORDS * len(contents.ops)
    acc = scatter = 0
    for op in contents.ops:
        if not op.weighted:
            continue
        rows = _rows_per_block(op, block)
        blocks = (op.bias_count + rows - 1) // rows
        ch = op.n_channels
        summed = op.kind == reader.FULLY_CONNECTED and backend != "native"
        ram += 4 * op.bias_count
        if backend == "viper":
            ram += 5 * ch
        elif backend == "native":
            ram += 4 * ch + (ch + 3) // 4 * 4 if ch > 1 else blocks * 8
        elif summed:  # python: the quantization arrays, read through views (copies without uctypes)
            ram += _PYTHON_BIAS_COPY * op.bias_count + (5 + _PYTHON_BIAS_COPY // 2) * ch + _WORD * _PYTHON_VIEW_WORDS
        else:  # python: the same per channel (a per-tensor multiplier's halves per block), and
            # each block's plan its views of the bias and multipliers
            ram += (_PYTHON_BIAS_COPY * op.bias_count + blocks * _WORD * _PYTHON_VIEW_WORDS
                    + ((5 + _PYTHON_BIAS_COPY // 2) * ch if ch > 1 else 12 * blocks))
        if summed:
            ram += _WORD * (_SUMMED_PLAN_WORDS[backend] + blocks * _SUMMED_BLOCK_WORDS)
        else:
            ram += blocks * _WORD * (_BLOCK_WORDS[backend] + (op.kind != reader.FULLY_CONNECTED
                                                               and _CONV_BLOCK_WORDS[backend]))
        if op.kind <= reader.CONV_2D:
            wide = op.n_out if summed else rows  # the accumulator row
            acc = wide if wide > acc else acc
        if op.kind == reader.CONV_2D and blocks > 1:
            n = op.out_h * op.out_w * rows
            scatter = n if n > scatter else scatter
    if backend != "native":
        ram += 4 * acc
    return ram + scatter


def _needs(contents, backend, block=DEFAULT_BLOCK):
    """Bytes load() keeps in RAM for this file and backend, per placement of the constants:
    {"filesystem", "stream", "romfs", "buffers", "peak", "stream_peak"}. buffers are the arena
    (every tensor at its planned place), the native chain's two hidden rows (native,
    FULLY_CONNECTED only, not streamed), the accumulator row (viper, python), the softmax
    kernel's table, and the float output list; "filesystem" also reads every op's constants
    into RAM (and "peak" adds the largest temporary copy while it does: an int32 section's, or
    with no uctypes an op's weights), "stream" (load(path, stream=block)) everything but the
    weights, which go through a window of one block (_stream_ram), "romfs" none (a file at a
    4-byte boundary). The pure-Python backend reads its bias and multipliers as 16-bit halves,
    copies where uctypes is missing (8 bytes per output, 4 per channel); the native one copies
    the multipliers and shifts it checked unless they are read-only (in ROMFS). quantize()'s
    thresholds take up to 1 KB."""
    ops = contents.ops
    matrices = [op for op in ops if op.kind <= reader.CONV_2D]
    buffers = contents.arena_bytes + _WORD * contents.n_out + 8
    acc = 4 * max(op.n_out for op in matrices) if backend != "native" and matrices else 0
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
    # the model, its tensors and quantize()'s thresholds (tinyml.quant): two array('H') of one
    # entry per reachable int8 step
    objects = _WORD * (_MODEL_WORDS + _TENSOR_WORDS * len(contents.tensors) + 8)
    objects += 4 * max(127 - contents.input_zp, 128 + contents.input_zp)
    extra = 0
    copies = 0
    params = 0  # ADD's and SOFTMAX's constants, in RAM when streamed
    for op in ops:
        if backend == "python" and op.weighted:
            extra += _PYTHON_BIAS_COPY * op.bias_count + _PYTHON_BIAS_COPY // 2 * op.n_channels + _WORD * _PYTHON_VIEW_WORDS
        if backend == "native" and op.weighted:  # a plan's copy of writable multipliers and shifts
            copies += 4 * op.n_channels + (op.n_channels + 3) // 4 * 4
        if not op.weighted:
            params += op.length
    base = buffers + acc + objects + _WORD * _OP_WORDS * len(ops) + extra
    needs = {"buffers": buffers + acc + chain, "romfs": base + chain,
             "stream": _stream_ram(contents, backend, block, buffers + objects + params),
             "filesystem": base + chain + sum(sections) + copies}
    needs["peak"] = needs["filesystem"] + max(4 * op.bias_count if _WEIGHTS_COPIED_ONCE else op.length
                                              for op in ops)
    # the stream window, made where uctypes is missing as array('b', bytes(n)), has a
    # temporary copy as large while it is made
    needs["stream_peak"] = needs["stream"] + (0 if _WEIGHTS_COPIED_ONCE else stream_reads(contents, block)[0])
    return needs


def _check_budget(path, needs, placement, before=None):
    """MemoryError before allocating, when the heap cannot hold what load needs, of which what
    the heap has gained since gc.mem_alloc() was `before` (the file's tables, read: the model's
    layers and tensors, which needs counts) is allocated already."""
    if not hasattr(gc, "mem_free"):  # CPython standing in for a board in tests: no heap limit
        return
    gc.collect()
    free = gc.mem_free()
    held = gc.mem_alloc() - before if before is not None else 0
    held = held if held > 0 else 0
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
            remedy += (", or load(path, stream=True), which reads the weights a few KB at a time: about %d bytes"
                       % needs["stream"])
    return ("tinyml.load(%r): needs about %d bytes of RAM (%s), %d bytes are free%s; %s"
            % (path, _need(needs, placement), "weights in place" if placement == "romfs" else
               "streamed" if placement == "stream" else "whole model in RAM", free, why, remedy))


def ram_needed(path, backend=None, stream=True):
    """What load(path, backend) needs in RAM, from the file's tables alone: a dict of bytes by
    placement ("filesystem", "stream", "romfs"), plus "buffers" (the arena and the other
    buffers every placement has), "peak" (filesystem, with a section's temporary copy) and
    "stream_peak" (stream, with the window's temporary copy where uctypes is missing).
    "stream" is for load(path, backend, stream) (True: DEFAULT_BLOCK bytes a block)."""
    backend = _backend_module(backend)[0]
    with open(path, "rb") as f:
        return _needs(reader.read(f, reader.image_of(f)), backend, _block_bytes(stream))


def _block_bytes(stream):
    """The block size load(path, stream=...) asks for: DEFAULT_BLOCK for True, else the bytes given."""
    if stream is True or not stream:
        return DEFAULT_BLOCK
    if not isinstance(stream, int) or stream < 1:
        raise ValueError("stream=%r: give True or a block size in bytes (default %d)" % (stream, DEFAULT_BLOCK))
    return stream


def _scatter(src, dst, positions, n, stride, first):
    """dst[p * stride + first + c] = src[p * n + c] for every position p and c < n: a streamed
    CONV_2D's block of n output channels to its place in the output (_Streamed.run_channels),
    for a backend without a faster one of its own (native and viper have). Allocates nothing."""
    s = 0
    d = first
    for _ in range(positions):
        for c in range(n):
            dst[d + c] = src[s + c]
        s += n
        d += stride


class _Streamed:
    """Runs one block of a streamed op: its weights read from the file into the window every
    block shares, just before it runs (seek and readinto into a view made at load allocate
    nothing), then the backend's kernel on the smaller op the block is (_Block)."""

    def __init__(self, f):
        self.file = f
        self.scatter = None  # run_channels' copy to the channels (set by load when a CONV_2D needs it)

    def _fill(self, at, view):
        f = self.file
        if f is None:
            raise ValueError("the streamed model's file is closed: load it again")
        f.seek(at)
        if f.readinto(view) != len(view):
            raise ValueError("streamed .tmdl: the file ended early (changed since load?)")

    def run(self, plan, x, out):
        """A block whose output is contiguous (rows of a FULLY_CONNECTED; a whole op): out is its view."""
        at, view, run, inner = plan
        self._fill(at, view)
        run(inner, x, out)

    def run_rows(self, plan, x, out):
        """A block of a FULLY_CONNECTED whose backend sums the blocks itself (fc_rows: python,
        viper) into its accumulator row, requantizing after the last: out is the layer's."""
        at, view, fc_rows, inner, first, n = plan
        self._fill(at, view)
        fc_rows(inner, x, out, first, n)

    def run_channels(self, plan, x, out):
        """A block of a CONV_2D's output channels: run into the block's own output, then copied
        to its channels of every position of out."""
        at, view, run, inner, part, positions, c0 = plan
        self._fill(at, view)
        run(inner, x, part)
        self.scatter(part, out, positions, len(part) // positions, len(out) // positions, c0)  # type: ignore[misc]


class _Block:
    """Rows r0 to r1 of a FULLY_CONNECTED op (output channels of a CONV_2D) as a backend's
    prepare sees an op: the same kind over those rows' weights (a view of the window), bias and
    per-channel quantization; every other field is the op's. One object serves every block
    in turn (of() points it at the next): the plans keep what they use, never the _Block."""

    def of(self, op, r0, r1, weights, signed, quantization=None):
        self._op = op
        self.n_out = self.out_c = r1 - r0
        self.weights = weights
        self.weights_signed = signed
        if op is None:
            self.bias = self.multipliers = self.shifts = None
        elif quantization is not None:  # the block's multipliers and shifts, read on their own
            self.bias = memoryview(op.bias)[4 * r0:4 * r1]
            self.n_channels = r1 - r0
            self.multipliers, self.shifts = quantization
        elif op.n_channels > 1:  # the op's sections are bytearrays (reader.place_in_ram, streamed)
            self.bias = memoryview(op.bias)[4 * r0:4 * r1]
            self.n_channels = r1 - r0
            self.multipliers = memoryview(op.multipliers)[4 * r0:4 * r1]
            self.shifts = memoryview(op.shifts)[r0:r1]
        else:
            self.bias = memoryview(op.bias)[4 * r0:4 * r1]
            self.n_channels = 1
            self.multipliers = op.multipliers
            self.shifts = op.shifts
        return self

    def __getattr__(self, name):
        return getattr(self._op, name)


class Model:
    """An int8 graph loaded from a .tmdl file.

    input, output: views (int8) of the model's input and output tensors in its arena;
    invoke() runs input -> output. predict(x) quantizes float(s), invokes, and dequantizes
    (a model ending in SOFTMAX gives probabilities). layers: the reader's Op objects (named
    fields), in the order they run; the golden vectors stay in the file until selftest()
    reads them. weights: where the ops' constants are: "RAM" (read from an ordinary file),
    "in place" (a file with the buffer protocol, in ROMFS), "in place, int32 copied" (such a
    file not at a 4-byte boundary: bias, multipliers and params copied to RAM), or "streamed"
    (load(path, stream=True) from an ordinary file: each op's weights read a block of output
    rows at a time into one small window just before the block runs in invoke(); the file
    stays open until close()). stream_reads: the file reads and bytes one invoke() makes
    ((0, 0) unless streamed).
    """

    def __init__(self, path, backend=None, stream=False):
        self.backend, module = _backend_module(backend)
        self.path = path
        self._file = None
        self._streamed = None
        self.stream_reads = (0, 0)  # file reads and bytes read per invoke() (streamed)
        block = _block_bytes(stream)
        f = open(path, "rb")
        try:
            image = reader.image_of(f)
            before = None
            if hasattr(gc, "mem_alloc"):
                gc.collect()
                before = gc.mem_alloc()
            contents = reader.read(f, image)
            self.ram_needed = needs = _needs(contents, self.backend, block)
            placement = "romfs" if image is not None else "stream" if stream else "filesystem"
            _check_budget(path, needs, placement, before)
            try:
                self._place(f, image, contents, module, block if placement == "stream" else 0)
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

    def _place(self, f, image, contents, module, block):
        # the larger buffers first, largest first, before the constants and plans split the heap
        # in small pieces: the stream window (a few KB), the float output list, the arena
        window = reader.int8_buffer(stream_reads(contents, block)[0]) if block and image is None else None
        reserve = getattr(module, "reserve", None)
        if reserve is not None:  # the backend's shared rows (python, viper)
            ops = contents.ops
            reserve(max(op.bias_count if op.weighted else 0 for op in ops),
                    max(op.n_in if op.kind == reader.CONV_2D else 0 for op in ops))
        self._result = [0.0] * contents.n_out
        self._bits = bytearray(4)
        self._thresholds = quant.thresholds(contents.input_scale_halves, contents.input_zp)
        self._arena = array("b", bytes(contents.arena_bytes))
        if image is not None:  # ROMFS: every op's constants stay in flash
            self.weights = "in place" if reader.place_in_image(image, contents) else "in place, int32 copied"
            self._setup(contents, module)
        elif block:  # load(path, stream=True) of an ordinary file
            self.weights = "streamed"
            self._file = f
            self._setup_streamed(f, contents, module, block, window)
        else:
            reader.place_in_ram(f, contents)
            self.weights = "RAM"
            self._setup(contents, module)

    def _setup_streamed(self, f, contents, module, block, window):
        # Everything but the weights is read into RAM; each weighted op becomes blocks of output
        # rows (channels), each prepared as the smaller op it is (_Block) over a view of the one
        # window its weights are read into before it runs. A CONV_2D of more than one block
        # runs each into `part` and copies it to its channels. A backend with fc_rows (python,
        # viper) runs a FULLY_CONNECTED's blocks on one plan of the layer instead: each adds
        # its rows' sums, the last requantizes (a plan per block costs it more RAM).
        size, reads, total = stream_reads(contents, block)
        window, signed = window
        window = memoryview(window)
        parts = 0
        for op in contents.ops:
            if op.kind == reader.CONV_2D and _rows_per_block(op, block) < op.n_out:
                n = op.out_h * op.out_w * _rows_per_block(op, block)
                parts = n if n > parts else parts
        part = memoryview(array("b", bytes(parts)))
        fc_rows = getattr(module, "fc_rows", None)
        # native: a per-channel layer's multipliers and shifts are read a block at a time into
        # one small buffer, which each block's plan copies (checked): not the whole layer's
        # beside the plans' copies
        per_block = self.backend == "native"
        reader.place_in_ram(f, contents, weights=False, per_block=per_block)
        quant = bytearray(5 * max(_rows_per_block(op, block) if op.weighted else 0 for op in contents.ops)) \
            if per_block else None
        self._streamed = streamed = _Streamed(f)
        # a streamed CONV_2D's block copied to its channels (run_channels): by the backend's own
        # scatter (native's in C, viper's), else in Python here; never another backend's module, whose import
        # would come after the RAM check and beside the figure load checked
        streamed.scatter = getattr(module, "scatter", _scatter) if parts else None
        self.stream_reads = (reads, total)
        # made once, not per block: each is an allocation that stays or leaves a hole
        run_block = streamed.run
        run_channels = streamed.run_channels
        run_summed = streamed.run_rows
        part_op = _Block()

        def prepare(prepare_kind, run, op, i, x, out, steps, k, *more):
            if not op.weighted:
                steps[k] = (run, prepare_kind(op, *more), x, out)
                return k + 1
            n = op.bias_count
            rows = _rows_per_block(op, block)
            per_row = op.weight_bytes // n
            at = reader.weights_at(op)
            positions = op.out_h * op.out_w
            full = window[:rows * per_row]  # the view of every block but a shorter last one
            full_part = part[:positions * rows]
            summed = op.kind == reader.FULLY_CONNECTED and fc_rows is not None
            if summed:  # one plan for the layer; each block adds its rows' sums
                op.weights, op.weights_signed = full, signed
                inner = prepare_kind(op)
            for r0 in range(0, n, rows):
                r1 = r0 + rows if r0 + rows < n else n
                view = full if r1 - r0 == rows else window[:(r1 - r0) * per_row]
                if summed:
                    steps[k] = (run_summed, (at + r0 * per_row, view, fc_rows, inner, r0, r1 - r0), x, out)
                    k += 1
                    continue
                if op.kind == reader.DEPTHWISE_CONV_2D:  # one block: the whole op
                    op.weights, op.weights_signed = view, signed
                    inner = prepare_kind(op)
                elif op.multipliers is None:  # native, per channel: this block's from the file
                    assert quant is not None  # allocated above for every per-channel op streamed on native
                    m = memoryview(quant)[:4 * (r1 - r0)]
                    s = memoryview(quant)[4 * (r1 - r0):5 * (r1 - r0)]
                    q_at = op.at + 4 * op.bias_count
                    f.seek(q_at + 4 * r0)
                    got = f.readinto(m)
                    f.seek(q_at + 4 * op.n_channels + r0)
                    if got + f.readinto(s) != 5 * (r1 - r0):
                        raise ValueError("truncated .tmdl: file ends inside operator %d" % i)
                    reader.check_quantization(m, s, r1 - r0, i, op.name)
                    inner = prepare_kind(part_op.of(op, r0, r1, view, signed, (m, s)))
                else:
                    inner = prepare_kind(part_op.of(op, r0, r1, view, signed))
                if op.kind == reader.FULLY_CONNECTED:
                    steps[k] = (run_block, (at + r0 * per_row, view, run, inner), x, out[r0:r1])
                elif r1 - r0 == n:
                    steps[k] = (run_block, (at, view, run, inner), x, out)
                else:
                    steps[k] = (run_channels, (at + r0 * per_row, view, run, inner,
                                               full_part if r1 - r0 == rows else part[:positions * (r1 - r0)],
                                               positions, r0), x, out)
                k += 1
            # the plans hold what they use: the op keeps no view of the window or its arrays
            op.weights = op.bias = op.multipliers = op.shifts = None
            part_op.of(None, 0, 0, None, signed)
            return k

        self._setup(contents, module, prepare, len(contents.ops) + reads - sum(op.weighted for op in contents.ops))

    def close(self):
        """Close the model file a streamed model keeps open (invoke() needs it until then)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            streamed = self._streamed
            if streamed is not None:
                streamed.file = None

    def _setup(self, contents, module, prepare=None, n_steps=0):
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

        arena = memoryview(self._arena)
        views = [arena[t.offset:t.offset + t.size] for t in tensors]
        self.input = views[0]
        self.output = views[-1]
        self._borrowed = getattr(module, "BORROWED", {})
        steps = [None] * (n_steps or len(ops))  # type: list
        k = 0
        for i, op in enumerate(ops):
            prepare_kind, run = _kernels(module, self.backend, op)
            more = () if op.x2 is None else (views[op.x2],)
            if prepare is None:
                steps[i] = (run, prepare_kind(op, *more), views[op.x], views[op.y])
            else:  # streamed: an op's steps, one per block
                k = prepare(prepare_kind, run, op, i, views[op.x], views[op.y], steps, k, *more)
        self._steps = steps  # as made: a copy would be one more allocation
        self._whole = self._run = None
        if prepare is None and _chains(contents, self.backend) and hasattr(module, "prepare_model"):
            # the hidden activations alternate between the two halves of one scratch array
            widest = max(op.n_out for op in ops[:-1]) if len(ops) > 1 else 0
            self._whole = module.prepare_model([plan for _, plan, _, _ in steps], array("b", bytes(2 * widest)))
            self._run = module.run

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
        """Run the golden vectors stored in the file (read from it now); return (passed, total).
        Compares the output a few bytes at a time: a model that fills the heap still checks."""
        n_in, n_out = len(self.input), len(self.output)
        chunk = bytearray(32)
        passed = 0
        out = self.output
        with open(self.path, "rb") as f:
            outputs_at = self._vectors_at + n_in * self.n_vectors + (-(n_in * self.n_vectors) % 4)
            for v in range(self.n_vectors):
                f.seek(self._vectors_at + v * n_in)
                f.readinto(self.input)
                self.invoke()
                f.seek(outputs_at + v * n_out)
                ok = True
                for at in range(0, n_out, 32):
                    n = f.readinto(chunk)
                    for i in range(min(n, n_out - at)):
                        b = chunk[i]
                        if (b - 256 if b > 127 else b) != out[at + i]:
                            ok = False
                passed += ok
                if verbose and not ok:
                    print("vector %d: got %s, not the golden output in the file" % (v, list(out)))
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
        if self._streamed is not None:
            lines.append("  streamed: %d file reads, %d bytes read per invoke()" % self.stream_reads)
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
    ordinary filesystem the whole model is read into RAM, or with stream=True everything
    but the weights is, and each layer's weights are read in blocks of output rows (of
    DEFAULT_BLOCK bytes, or stream=N bytes; whole groups of 8 rows, at least one) into one
    window just before each block runs, in every invoke() (RAM: the window, the per-layer
    quantization and a small plan per block; slower by the file reads, m.stream_reads)."""
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
