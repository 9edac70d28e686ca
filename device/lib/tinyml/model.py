# Load a .tmdl file (docs/format.md) and run it. load() checks the file and prepares every
# layer on one backend; invoke() is one loop over the prepared plans and allocates nothing.
#
# A backend is one module, tinyml._<name>, with prepare(layer) -> plan (once, at load) and
# fc(plan, x, out) (one int8 fully connected layer per call); adding a backend is adding a
# module and its name to BACKENDS. Importing a backend's module raises ImportError (or
# SyntaxError, for viper on a port without the emitter) when this board cannot run it.
from array import array

from tinyml import reader

BACKENDS = ("native", "viper", "python")  # fastest first
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


class Model:
    """An int8 fully connected network loaded from a .tmdl file.

    input, output: array('b') of quantized int8 values; invoke() runs input -> output.
    predict(x) quantizes float(s), invokes, and dequantizes. layers: the reader's Layer
    objects (named fields); the golden vectors stay in the file until selftest() reads them.
    weights: where the layers' sections are: "RAM" (read from an ordinary file), "in place"
    (a file with the buffer protocol, in ROMFS), or "in place, int32 copied" (such a file not
    at a 4-byte boundary: bias and multipliers copied to RAM).
    """

    def __init__(self, path, backend=None):
        self.backend, module = _backend_module(backend)
        self.path = path
        with open(path, "rb") as f:
            image = reader.image_of(f)
            contents = reader.read(f, image)
            if image is not None:  # ROMFS: weights, bias, multipliers and shifts stay in flash
                self.weights = "in place" if reader.place_in_image(image, contents) else "in place, int32 copied"
            else:
                reader.place_in_ram(f, contents)
                self.weights = "RAM"
        self._setup(contents, module)

    def _setup(self, contents, module):
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
        # ping-pong buffers for the hidden activations
        hidden = (array("b", bytes(widest)), array("b", bytes(widest)))
        self._hidden_bytes = 2 * widest
        last = len(self.layers) - 1
        self._fc = module.fc
        self._steps = tuple((module.prepare(l), self.output if i == last else hidden[i & 1])
                            for i, l in enumerate(self.layers))
        self._result = [0.0] * contents.n_out
        self._f32 = array("f", bytes(4))

    def invoke(self):
        """Run self.input -> self.output with integer arithmetic. Allocates nothing."""
        fc = self._fc
        src = self.input
        for plan, dst in self._steps:
            fc(plan, src, dst)
            src = dst

    def quantize(self, value):
        # TFLite quantizes in float32: round x and x/scale to float32 (exact on float32
        # ports, and on double-precision ports such as unix through a 1-slot array).
        f32 = self._f32
        f32[0] = value
        f32[0] = f32[0] / self.input_scale
        v = f32[0]
        q = (int(v + 0.5) if v >= 0 else -int(0.5 - v)) + self.input_zp  # half away from zero, as TFLite
        return -128 if q < -128 else 127 if q > 127 else q

    def dequantize(self, q):
        return (q - self.output_zp) * self.output_scale

    def predict(self, x):
        """Float (or sequence of floats) in; float (or list) out, softmax applied if the model has it."""
        inp = self.input
        if isinstance(x, (int, float)):
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
        """Bytes of the buffers invoke() works in (weights excluded)."""
        return len(self.input) + len(self.output) + self._hidden_bytes + 4 * max(l.n_out for l in self.layers)

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


def load(path, backend=None):
    """Load a .tmdl model; backend None picks native, then viper, then python."""
    return Model(path, backend)


def selftest(path, backend=None, verbose=True):
    """Check the model's golden vectors on this board; True when all pass."""
    m = Model(path, backend)
    passed, total = m.selftest(verbose)
    if verbose:
        print("selftest %s (%s): %d/%d vectors pass" % (path, m.backend, passed, total))
    return total > 0 and passed == total
