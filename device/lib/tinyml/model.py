# Load a .tmdl file (docs/format.md) and run it. load() validates and allocates
# everything; invoke() only touches preallocated buffers.
import struct
from array import array
from micropython import const

from tinyml import _python

try:
    from binascii import crc32 as _crc32
except ImportError:  # some ports leave crc32 out of binascii
    _crc32 = None  # type: ignore[assignment]

_MAGIC = b"TMDL"
_VERSION = const(1)
_FLAG_LITERT = const(1)
_FLAG_SOFTMAX = const(2)
_KNOWN_FLAGS = const(15)
_HEADER = const(16)
_MODEL_BLOCK = const(28)
_LAYER_BLOCK = const(12)

BACKENDS = ("native", "viper", "python")
# python and viper provide mac() (int32 accumulators) and requantize(); native provides
# fc(), a whole layer in C. Neither requantize allocates on 32-bit ports: _viper's works
# in 16-bit pieces of machine words, _python's in 15-bit pieces that are all small ints
# (its bias and multipliers are split once, at load, by _python.prepare).
_kernels = {"python": _python.mac}
_requantize = {"python": _python.requantize}
_native_problem = "the _tinyml module is not in this firmware or /lib (docs/firmware.md)"
try:
    from _tinyml import fc as _native_fc
    _kernels["native"] = _native_fc
except ImportError:
    pass
except ValueError as e:  # a _tinyml.mpy for another architecture or MicroPython version
    _native_problem = "lib/_tinyml.mpy does not load here (%s)" % e
try:
    from tinyml._viper import mac as _viper_mac, requantize as _viper_requantize
    _kernels["viper"] = _viper_mac
    _requantize["viper"] = _viper_requantize
except (ImportError, SyntaxError, AttributeError):  # no viper emitter on this port
    pass


def available_backends():
    """Backends this firmware can run, fastest first."""
    return tuple(b for b in BACKENDS if b in _kernels)


def _crc32_soft(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _file_size(f):
    end = f.seek(0, 2)
    f.seek(0)
    return end


class _Body:
    """Reads the file body section by section, bounded by the declared length."""

    def __init__(self, f, length):
        self.f = f
        self.left = length

    def read_into(self, buf, nbytes, what):
        """Fill buf, whose size is nbytes bytes, then skip the section's padding."""
        if nbytes > self.left:
            raise ValueError("truncated .tmdl: %s needs %d bytes, %d left" % (what, nbytes, self.left))
        if nbytes and self.f.readinto(buf) != nbytes:
            raise ValueError("truncated .tmdl: file ends inside %s" % what)
        pad = -nbytes % 4
        if pad:
            if pad > self.left - nbytes or len(self.f.read(pad)) != pad:
                raise ValueError("truncated .tmdl: file ends inside %s padding" % what)
        self.left -= nbytes + pad
        return buf

    def array(self, typecode, count, size, what):
        return self.read_into(array(typecode, bytes(count * size)), count * size, what)


def _check_crc(f, length, expected):
    crc = 0
    chunk = bytearray(256)
    mv = memoryview(chunk)
    left = length
    while left:
        n = f.readinto(mv[:min(left, 256)])
        if not n:
            break
        crc = _crc32(mv[:n], crc) if _crc32 is not None else _crc32_soft(mv[:n], crc)
        left -= n
    if left:
        raise ValueError("truncated .tmdl: body is %d bytes short of the %d in its header" % (left, length))
    if crc & 0xFFFFFFFF != expected:
        raise ValueError("corrupt .tmdl: CRC32 0x%08x != 0x%08x in header" % (crc & 0xFFFFFFFF, expected))


class Model:
    """An int8 fully connected network loaded from a .tmdl file.

    input, output: array('b') of quantized int8 values; invoke() runs input -> output.
    predict(x) quantizes float(s), invokes, and dequantizes.
    """

    def __init__(self, path, backend=None):
        if backend is None:
            backend = available_backends()[0]
        if backend not in BACKENDS:
            raise ValueError("unknown backend %r; choose one of %s" % (backend, ", ".join(BACKENDS)))
        if backend not in _kernels:
            why = _native_problem if backend == "native" else "this port has no viper code emitter"
            raise ValueError("backend %r is not available: %s" % (backend, why))
        self.backend = backend
        self.path = path
        self._kernel = _kernels[backend]
        self._requantize = _requantize.get(backend)
        with open(path, "rb") as f:
            self._parse(f)

    def _parse(self, f):
        size = _file_size(f)
        if size < _HEADER:
            raise ValueError("truncated .tmdl: %d bytes, header alone is %d" % (size, _HEADER))
        magic, version, flags, length, crc = struct.unpack("<4sHHII", f.read(_HEADER))
        if magic != _MAGIC:
            raise ValueError("not a .tmdl file: magic %r, expected %r" % (magic, _MAGIC))
        if version != _VERSION:
            raise ValueError("unsupported .tmdl version %d; this tinyml reads version %d" % (version, _VERSION))
        if flags & ~_KNOWN_FLAGS:
            raise ValueError("unknown .tmdl flags 0x%04x" % flags)
        if length != size - _HEADER:
            raise ValueError("%s .tmdl: body is %d bytes, header says %d"
                             % ("truncated" if size - _HEADER < length else "oversized", size - _HEADER, length))
        _check_crc(f, length, crc)
        f.seek(_HEADER)
        body = _Body(f, length)
        block = body.read_into(bytearray(_MODEL_BLOCK), _MODEL_BLOCK, "model block")
        (n_layers, n_vec, n_in, n_out, self.input_scale, self.input_zp, self.output_scale,
         self.output_zp, max_width, _) = struct.unpack("<HHHHfifiHH", block)
        if not n_layers:
            raise ValueError("invalid .tmdl: no layers")
        self.single_rounding = bool(flags & _FLAG_LITERT)
        self.softmax = bool(flags & _FLAG_SOFTMAX)
        heads = body.read_into(bytearray(_LAYER_BLOCK * n_layers), _LAYER_BLOCK * n_layers, "layer headers")
        layers = []
        width = n_in
        widest = 0
        for i in range(n_layers):
            l_in, l_out, n_q, act_min, act_max, in_zp, out_zp, _ = struct.unpack_from("<HHHbbbbH", heads, i * _LAYER_BLOCK)
            if l_in != width or not l_out:
                raise ValueError("invalid .tmdl: layer %d is %d->%d, previous output is %d" % (i, l_in, l_out, width))
            if n_q != 1 and n_q != l_out:
                raise ValueError("invalid .tmdl: layer %d has %d quantization channels for %d outputs" % (i, n_q, l_out))
            if act_min > act_max:
                raise ValueError("invalid .tmdl: layer %d activation range [%d, %d]" % (i, act_min, act_max))
            bias = body.array("i", l_out, 4, "layer %d bias" % i)
            mult = body.array("i", n_q, 4, "layer %d multipliers" % i)
            shift = body.array("b", n_q, 1, "layer %d shifts" % i)
            weights = body.array("b", l_in * l_out, 1, "layer %d weights" % i)
            for j in range(n_q):
                if mult[j] < 0 or not -31 <= shift[j] <= 30:
                    raise ValueError("invalid .tmdl: layer %d multiplier or shift out of range" % i)
            # the layer's tml_fc_params (native/core/tinyml.h) for the native and viper backends
            params = array("i", (l_in, l_out, n_q, act_min, act_max, out_zp, flags & _FLAG_LITERT))
            if self.backend == "python":  # bias and multipliers as small-int pieces instead
                params = _python.prepare(bias, mult, shift, self.single_rounding)
            layers.append((l_in, l_out, weights, bias, mult, shift, act_min, act_max, out_zp, params))
            width = l_out
            widest = max(widest, l_in, l_out)
        if width != n_out:
            raise ValueError("invalid .tmdl: last layer gives %d outputs, header says %d" % (width, n_out))
        if widest != max_width:
            raise ValueError("invalid .tmdl: max width %d does not match the layers (%d)" % (max_width, widest))
        self.vectors_in = body.array("b", n_vec * n_in, 1, "test vector inputs")
        self.vectors_out = body.array("b", n_vec * n_out, 1, "test vector outputs")
        if body.left:
            raise ValueError("invalid .tmdl: %d unexpected bytes after the last section" % body.left)
        self.n_vectors = n_vec
        self._layers = layers
        self.input = array("b", bytes(n_in))
        self.output = array("b", bytes(n_out))
        # Ping-pong buffers for hidden activations, one int32 accumulator row.
        self._hidden = (array("b", bytes(max_width)), array("b", bytes(max_width)))
        self._acc = array("i", bytes(4 * max_width))
        self._result = [0.0] * n_out
        self._f32 = array("f", bytes(4))

    def invoke(self):
        """Run self.input -> self.output with integer arithmetic. Allocates nothing."""
        src = self.input
        last = len(self._layers) - 1
        kernel = self._kernel
        backend = self.backend
        requantize = self._requantize
        acc = self._acc
        i = 0
        for l_in, l_out, weights, bias, mult, shift, act_min, act_max, out_zp, params in self._layers:
            dst = self.output if i == last else self._hidden[i & 1]
            if backend == "native":
                kernel(params, src, weights, bias, mult, shift, dst)
            elif backend == "viper":
                kernel(src, weights, acc, l_in, l_out)
                requantize(acc, bias, mult, shift, dst, params)
            else:
                kernel(src, weights, acc, l_in, l_out)
                requantize(acc, params, dst, l_out, act_min, act_max, out_zp)
            src = dst
            i += 1

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
        """Run the golden vectors stored in the file; return (passed, total)."""
        n_in, n_out = len(self.input), len(self.output)
        passed = 0
        for v in range(self.n_vectors):
            for i in range(n_in):
                self.input[i] = self.vectors_in[v * n_in + i]
            self.invoke()
            ok = True
            for o in range(n_out):
                if self.output[o] != self.vectors_out[v * n_out + o]:
                    ok = False
            passed += ok
            if verbose and not ok:
                print("vector %d: got %s expected %s" % (v, list(self.output),
                                                         list(self.vectors_out[v * n_out:(v + 1) * n_out])))
        return passed, self.n_vectors

    @property
    def param_bytes(self):
        return sum(len(l[2]) + 4 * len(l[3]) + 5 * len(l[4]) for l in self._layers)

    @property
    def ram_bytes(self):
        """Bytes of the buffers invoke() works in (weights excluded)."""
        return len(self.input) + len(self.output) + 2 * len(self._hidden[0]) + 4 * len(self._acc)

    def info(self):
        lines = ["tinyml model %s: backend %s, rounding %s" % (self.path, self.backend,
                                                              "litert" if self.single_rounding else "tflm"),
                 "  input  %d int8, scale %g, zero point %d" % (len(self.input), self.input_scale, self.input_zp)]
        for n, l in enumerate(self._layers):
            lines.append("  layer %d: dense %d -> %d, %s weight scales, activation [%d, %d]"
                         % (n, l[0], l[1], "per-channel" if len(l[4]) > 1 else "per-tensor", l[6], l[7]))
        lines.append("  output %d int8, scale %g, zero point %d%s" % (len(self.output), self.output_scale,
                                                                   self.output_zp, ", softmax" if self.softmax else ""))
        lines.append("  %d parameter bytes, %d RAM bytes for buffers, %d golden vectors"
                     % (self.param_bytes, self.ram_bytes, self.n_vectors))
        return "\n".join(lines)

    def __repr__(self):
        shape = "->".join([str(len(self.input))] + [str(l[1]) for l in self._layers])
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
    try:
        return Model(path, backend)
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
