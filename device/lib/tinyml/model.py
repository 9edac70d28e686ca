# Load a .tmdl file (docs/format.md) and run it. load() checks the file and prepares every
# layer on one backend; invoke() is one loop over the prepared plans and allocates nothing.
#
# A backend is one module, tinyml._<name>, with prepare(layer) -> plan (once, at load) and
# fc(plan, x, out) (one int8 fully connected layer per call); adding a backend is adding a
# module and its name to BACKENDS. A backend may also offer prepare_model(plans, scratch) and
# run(model, x, out), every layer in one call (native: one crossing into C per invoke); load()
# uses them for models whose sections stay put (not streamed). Importing a backend's module
# raises ImportError (or SyntaxError, for viper on a port without the emitter) when this board cannot run it.
import gc
import sys
from array import array
from micropython import const

from tinyml import quant, reader

# RAM of load's objects beyond the buffers it sizes exactly (Layer, views, plans, steps), in
# machine words, measured on the unix port (tests/device/test_ram_budget.py holds the
# estimate above what load really takes, and close to it).
_WORD = 8 if sys.maxsize > 0x7FFFFFFF else 4
try:  # the pure-Python backend reads the bias in place through uctypes, or keeps a copy
    import uctypes  # type: ignore[import-not-found]  # noqa: F401
    _PYTHON_BIAS_COPY = 0
    _PYTHON_VIEW_WORDS = 24  # per layer: two uctypes views of the bias and their descriptors
    _WEIGHTS_COPIED_ONCE = True  # reader.int8_buffer: a bytearray, no temporary copy
except ImportError:
    _PYTHON_BIAS_COPY = 8  # bytes per output
    _PYTHON_VIEW_WORDS = 8
    _WEIGHTS_COPIED_ONCE = False  # array('b', bytes(n)): a temporary copy as large
_MODEL_WORDS = const(224)
_LAYER_WORDS = const(100)

BACKENDS = ("native", "viper", "python")  # fastest first
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


def _needs(contents, backend):
    """Bytes load() keeps in RAM for this file and backend, per placement of the sections:
    {"filesystem", "stream", "romfs", "buffers", "peak", "stream_peak"}. buffers are input, output, hidden
    activations, the accumulator row (viper, python) and the float output list; "filesystem"
    also reads every section into RAM (and "peak" adds the largest temporary copy while it
    does: an int32 section's, or with no uctypes a layer's weights), "stream" one window as large as the largest layer, "romfs" none
    (a file at a 4-byte boundary). The pure-Python backend keeps its multipliers as small-int
    pieces (12 bytes per channel), and its bias's 16-bit halves as copies where uctypes is
    missing (8 bytes per output); the native one copies the multipliers and shifts it
    checked unless they are read-only (in ROMFS). quantize()'s thresholds take up to 1 KB."""
    layers = contents.layers
    buffers = (contents.n_in + contents.n_out + 2 * contents.widest + _WORD * contents.n_out + 8
               + (0 if backend == "native" else 4 * max(l.n_out for l in layers)))
    sections = [l.end - l.bias_at for l in layers]
    objects = _WORD * (_MODEL_WORDS + _LAYER_WORDS * len(layers))
    # quantize()'s thresholds (tinyml.quant): two array('H') of one entry per reachable int8 step
    objects += 4 * max(127 - contents.input_zp, 128 + contents.input_zp) + 8 * _WORD
    extra = 0
    copies = 0
    for l in layers:
        if backend == "python":
            extra += _PYTHON_BIAS_COPY * l.n_out + 12 * l.n_channels + _WORD * _PYTHON_VIEW_WORDS
        copies += 4 * l.n_channels + (l.n_channels + 3) // 4 * 4
    if backend != "native":
        copies = 0
    base = buffers + objects + extra
    needs = {"buffers": buffers, "romfs": base,
             "stream": base + max(sections) + copies,
             "filesystem": base + sum(sections) + copies}
    needs["peak"] = needs["filesystem"] + max(4 * l.n_out if _WEIGHTS_COPIED_ONCE else l.end - l.bias_at
                                              for l in layers)
    # the stream window, made where uctypes is missing as array('b', bytes(n)), has a
    # temporary copy as large while it is made
    needs["stream_peak"] = needs["stream"] + (0 if _WEIGHTS_COPIED_ONCE else max(sections))
    return needs


def _check_budget(path, needs, placement):
    """MemoryError before allocating, when the heap cannot hold what load needs."""
    if not hasattr(gc, "mem_free"):  # CPython standing in for a board in tests: no heap limit
        return
    gc.collect()
    free = gc.mem_free()
    if _need(needs, placement) > free:
        raise MemoryError(_too_big(path, needs, placement, free, ""))


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
    """What load(path, backend) needs in RAM, from the file's layer table alone: a dict of
    bytes by placement ("filesystem", "stream", "romfs"), plus "buffers" (the activations
    every placement has), "peak" (filesystem, with a section's temporary copy) and
    "stream_peak" (stream, with the window's temporary copy where uctypes is missing)."""
    backend = _backend_module(backend)[0]
    with open(path, "rb") as f:
        return _needs(reader.read(f, reader.image_of(f)), backend)


def _closed(plan, x, out):
    raise ValueError("the streamed model's file is closed: load it again")


class _Streamed:
    """A backend's fc with each layer's sections (bias, multipliers, shifts, weights) read from
    the file, into the one window every layer shares, just before the layer runs. seek and
    readinto into a view made at load allocate nothing."""

    def __init__(self, f, fc):
        self._file = f
        self._fc = fc

    def fc(self, plan, x, out):
        at, view, inner = plan
        f = self._file
        f.seek(at)
        if f.readinto(view) != len(view):
            raise ValueError("streamed .tmdl: the file ended early (changed since load?)")
        self._fc(inner, x, out)


class Model:
    """An int8 fully connected network loaded from a .tmdl file.

    input, output: array('b') of quantized int8 values; invoke() runs input -> output.
    predict(x) quantizes float(s), invokes, and dequantizes. layers: the reader's Layer
    objects (named fields); the golden vectors stay in the file until selftest() reads them.
    weights: where the layers' sections are: "RAM" (read from an ordinary file), "in place"
    (a file with the buffer protocol, in ROMFS), "in place, int32 copied" (such a file not
    at a 4-byte boundary: bias and multipliers copied to RAM), or "streamed" (load(path,
    stream=True) from an ordinary file: each layer read into one window just before it runs
    in invoke(); the file stays open until close()).
    """

    def __init__(self, path, backend=None, stream=False):
        self.backend, module = _backend_module(backend)
        self.path = path
        self._file = None
        f = open(path, "rb")
        try:
            image = reader.image_of(f)
            contents = reader.read(f, image)
            self.ram_needed = needs = _needs(contents, self.backend)
            placement = "romfs" if image is not None else "stream" if stream else "filesystem"
            _check_budget(path, needs, placement)
            try:
                self._place(f, image, contents, module, stream)
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

    def _place(self, f, image, contents, module, stream):
        if image is not None:  # ROMFS: weights, bias, multipliers and shifts stay in flash
            self.weights = "in place" if reader.place_in_image(image, contents) else "in place, int32 copied"
            self._setup(contents, module)
        elif stream:
            self.weights = "streamed"
            self._file = f
            self._setup_streamed(f, contents, module)
        else:
            reader.place_in_ram(f, contents)
            self.weights = "RAM"
            self._setup(contents, module)

    def _setup_streamed(self, f, contents, module):
        # Every layer lives in one window, refilled from the file before it runs. Each layer
        # is prepared while its own sections are in the window: the native plan copies the
        # multipliers and shifts it checked, the python plan splits the bias into pieces.
        window, signed = reader.stream_window(contents)
        window = memoryview(window)
        views = []  # type: list[memoryview]

        def prepare(layer):
            views.append(reader.place_in_window(f, layer, window, signed, len(views)))
            return module.prepare(layer)

        self._setup(contents, module, prepare, whole=False)
        self._fc = _Streamed(f, module.fc).fc
        # _steps: (plan, output buffer) per layer, the buffer None between the layers of a backend
        # that runs whole models; its type is declared here, its first assignment in the source
        steps = tuple(((l.bias_at, view, plan), dst)
                      for l, view, (plan, dst) in zip(self.layers, views, self._steps))
        self._steps = steps  # type: tuple[tuple[object, array | None], ...]

    def close(self):
        """Close the model file a streamed model keeps open (invoke() needs it until then)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._fc = _closed

    def _setup(self, contents, module, prepare=None, whole=True):
        self.rounding = reader.ROUNDING_NAMES[contents.rounding]
        self.softmax = contents.softmax
        self.input_scale, self.input_zp = contents.input_scale, contents.input_zp
        self.output_scale, self.output_zp = contents.output_scale, contents.output_zp
        self.n_vectors = contents.n_vectors
        self._vectors_at = contents.vectors_at
        self.layers = contents.layers
        widest = contents.widest
        self.input = array("b", bytes(contents.n_in))
        self.output = array("b", bytes(contents.n_out))
        whole = whole and hasattr(module, "prepare_model")
        # the hidden activations alternate between two buffers: two arrays for the loop in
        # invoke(), the two halves of one scratch array for a backend that runs the whole model
        scratch = array("b", bytes(2 * widest)) if whole else None
        hidden = (None, None) if whole else (array("b", bytes(widest)), array("b", bytes(widest)))
        last = len(self.layers) - 1
        self._fc = module.fc
        prepare = prepare or module.prepare
        self._steps = tuple((prepare(l), self.output if i == last else hidden[i & 1])
                            for i, l in enumerate(self.layers))
        self._whole = module.prepare_model([plan for plan, _ in self._steps], scratch) if whole else None
        self._run = module.run if whole else None
        self._result = [0.0] * contents.n_out
        self._bits = bytearray(4)
        self._thresholds = quant.thresholds(contents.input_scale_halves, self.input_zp)

    def invoke(self):
        """Run self.input -> self.output with integer arithmetic. Allocates nothing."""
        if self._run is not None:  # set together with self._whole, by a backend that runs whole models
            self._run(self._whole, self.input, self.output)
            return
        fc = self._fc
        src = self.input  # type: array | None
        for plan, dst in self._steps:
            fc(plan, src, dst)
            src = dst

    def quantize(self, value):
        """TFLite's int8 for a float, bit-exact on doubles, float32 and CircuitPython's 30-bit
        floats (tinyml.quant). Allocates nothing."""
        high, low = self._thresholds
        return quant.quantize(value, self._bits, high, low, self.input_zp)

    def dequantize(self, q):
        return (q - self.output_zp) * self.output_scale

    def predict(self, x):
        """Float (or sequence of floats) in; float (or list) out, softmax applied if the model has it."""
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
        """The last invoke()'s output as floats (softmax applied if the model has it).
        Returns the same list object every time: copy it to keep a result."""
        out = self._result
        for i in range(len(out)):
            out[i] = self.dequantize(self.output[i])
        if self.softmax:
            _softmax(out)
        return out

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
                ok = self.output == expected
                passed += ok
                if verbose and not ok:
                    print("vector %d: got %s expected %s" % (v, list(self.output), list(expected)))
        return passed, self.n_vectors

    @property
    def param_bytes(self):
        return sum(l.weight_bytes + l.quant_bytes for l in self.layers)

    @property
    def ram_bytes(self):
        """Bytes of the buffers invoke() and predict() work in (weights excluded)."""
        return self.ram_needed["buffers"]

    def info(self):
        lines = ["tinyml model %s: backend %s, rounding %s, weights %s" % (self.path, self.backend, self.rounding,
                                                                           self.weights),
                 "  input  %d int8, scale %g, zero point %d" % (len(self.input), self.input_scale, self.input_zp)]
        for n, l in enumerate(self.layers):
            lines.append("  layer %d: dense %d -> %d, %s weight scales, activation [%d, %d]"
                         % (n, l.n_in, l.n_out, "per-channel" if l.n_channels > 1 else "per-tensor",
                            l.act_min, l.act_max))
        lines.append("  output %d int8, scale %g, zero point %d%s" % (len(self.output), self.output_scale,
                                                                   self.output_zp, ", softmax" if self.softmax else ""))
        lines.append("  %d parameter bytes, %d RAM bytes for buffers, %d golden vectors"
                     % (self.param_bytes, self.ram_bytes, self.n_vectors))
        needs = self.ram_needed
        lines.append("  load needs about %d bytes of RAM from the filesystem, %d streamed, %d from ROMFS"
                     % (needs["filesystem"], needs["stream"], needs["romfs"]))
        return "\n".join(lines)

    def __repr__(self):
        shape = "->".join([str(len(self.input))] + [str(l.n_out) for l in self.layers])
        return "<Model %s %s backend=%s>" % (self.path, shape, self.backend)


def _softmax(values):
    from math import exp
    top = max(values)
    total = 0.0
    for i in range(len(values)):
        values[i] = exp(values[i] - top)
        total += values[i]
    for i in range(len(values)):
        values[i] /= total


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
