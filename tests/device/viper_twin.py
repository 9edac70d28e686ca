"""Run tinyml's device arithmetic in CPython as a 32-bit port would, with every operation checked.

Viper (`load`): a viper `int` is a machine word. On a 32-bit board an operation whose exact
result leaves [-2**31, 2**31 - 1] would wrap there but not on the 64-bit unix port CI runs,
so the two would disagree. `load(name)` compiles the named function from
device/lib/tinyml/_viper.py itself (decorator and annotations removed, so it is the same
statements, not a copy) with `int` bound to Word: every +, -, *, <<, >>, &, |, ^ on a Word
asserts that its exact result is a signed 32-bit value (so 32-bit wrap-around would give
the same) and that shift counts lie in [0, 31]. Pointers are emulated as on a 32-bit port:
ptr32 reads give the signed word, ptr8 reads the unsigned byte, stores keep the low bits.

Pure Python (`load_python`): on a 32-bit MicroPython or CircuitPython port an int outside
[-2**30, 2**30 - 1] is a long int, a heap object. `load_python()` runs
device/lib/tinyml/_python.py's own source with every integer literal, every array read,
`range`, `len` and `struct.unpack_from` result a SmallInt, whose every operation asserts
that its exact result is a small int there. Reading an array('i') entry outside that range
(which makes a long int on a board) raises too.
"""

from __future__ import annotations

import array as pyarray
import ast
import builtins
import struct
from pathlib import Path

VIPER_SOURCE = Path(__file__).resolve().parents[2] / "device" / "lib" / "tinyml" / "_viper.py"
PYTHON_SOURCE = VIPER_SOURCE.with_name("_python.py")
MIN, MAX = -(1 << 31), (1 << 31) - 1
SMALL_INT = 1 << 30  # MicroPython small ints on 32-bit ports: |v| < 2**30


class Overflow(AssertionError):
    pass


def _wrap32(v: int) -> int:
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _value(x) -> int:
    return x.v if isinstance(x, _Checked) else int(x)


class _Checked:
    """An int on a port, every operation's exact result checked against the type's range."""

    __slots__ = ("v",)
    LO, HI = MIN, MAX
    WHAT = "a signed 32-bit value"

    def __init__(self, v=0):
        v = _value(v)
        if not self.LO <= v <= self.HI:
            raise Overflow(f"{v} is not {self.WHAT}")
        self.v = v

    def _new(self, op: str, a, b, r: int):
        if not self.LO <= r <= self.HI:
            raise Overflow(f"{_value(a)} {op} {_value(b)} = {r} is not {self.WHAT}")
        return type(self)(r)

    def _lcount(self, a, b) -> int:
        return _shift_count("<<", a, b)

    def _rcount(self, a, b) -> int:
        return _shift_count(">>", a, b)

    def __add__(self, o):
        return self._new("+", self, o, self.v + _value(o))

    def __radd__(self, o):
        return self._new("+", o, self, _value(o) + self.v)

    def __sub__(self, o):
        return self._new("-", self, o, self.v - _value(o))

    def __rsub__(self, o):
        return self._new("-", o, self, _value(o) - self.v)

    def __mul__(self, o):
        return self._new("*", self, o, self.v * _value(o))

    __rmul__ = __mul__

    def __floordiv__(self, o):
        return self._new("//", self, o, self.v // _value(o))

    def __mod__(self, o):
        return self._new("%", self, o, self.v % _value(o))

    def __lshift__(self, o):
        return self._new("<<", self, o, self.v << self._lcount(self, o))

    def __rlshift__(self, o):
        return self._new("<<", o, self, _value(o) << self._lcount(o, self))

    def __rshift__(self, o):  # arithmetic (floor), as viper's int >> and Python's
        return self._new(">>", self, o, self.v >> self._rcount(self, o))

    def __rrshift__(self, o):
        return self._new(">>", o, self, _value(o) >> self._rcount(o, self))

    def __and__(self, o):
        return self._new("&", self, o, self.v & _value(o))

    __rand__ = __and__

    def __or__(self, o):
        return self._new("|", self, o, self.v | _value(o))

    __ror__ = __or__

    def __xor__(self, o):
        return self._new("^", self, o, self.v ^ _value(o))

    __rxor__ = __xor__

    def __neg__(self):
        return self._new("neg", 0, self, -self.v)

    def __invert__(self):
        return self._new("~", 0, self, ~self.v)

    def __index__(self):
        return self.v

    def __bool__(self):
        return self.v != 0

    def __eq__(self, o):
        return self.v == _value(o)

    def __ne__(self, o):
        return self.v != _value(o)

    def __lt__(self, o):
        return self.v < _value(o)

    def __le__(self, o):
        return self.v <= _value(o)

    def __gt__(self, o):
        return self.v > _value(o)

    def __ge__(self, o):
        return self.v >= _value(o)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self):
        return f"{type(self).__name__}({self.v})"


def _shift_count(op: str, a, b) -> int:
    n = _value(b)
    if not 0 <= n <= 31:
        raise Overflow(f"{_value(a)} {op} {n}: shift count outside [0, 31]")
    return n


class Word(_Checked):
    """A viper int on a 32-bit port: every result a signed 32-bit value, shift counts in [0, 31]."""

    __slots__ = ()


class SmallInt(_Checked):
    """A Python int on a 32-bit MicroPython or CircuitPython port that stays a small int (no heap
    object): every result in [-2**30, 2**30 - 1]. `<<` by 32 or more makes a long int there even
    for 0, so its count must lie in [0, 31]; `>>` takes any count >= 0, as in MicroPython."""

    __slots__ = ()
    LO, HI = -SMALL_INT, SMALL_INT - 1
    WHAT = "a small int on a 32-bit port (|v| < 2**30)"

    def _rcount(self, a, b) -> int:
        n = _value(b)
        if n < 0:
            raise Overflow(f"{_value(a)} >> {n}: negative shift count")
        return n


class Ptr32:
    """ptr32 over a list of int32 values, read as a 32-bit port reads it (signed word)."""

    def __init__(self, values):
        self.values = [_wrap32(int(v)) for v in values]

    def __getitem__(self, i):
        return self.values[_value(i)]

    def __setitem__(self, i, v):
        self.values[_value(i)] = _wrap32(_value(v))


class Ptr8:
    """ptr8: reads the unsigned byte, stores the low 8 bits."""

    def __init__(self, values):
        self.values = [int(v) & 0xFF for v in values]

    def __getitem__(self, i):
        return self.values[_value(i)]

    def __setitem__(self, i, v):
        self.values[_value(i)] = _value(v) & 0xFF

    def signed(self):
        return [(b ^ 0x80) - 0x80 for b in self.values]


class _ArrayPtr:
    """ptr16 or ptr32 over a twin Array (or a list), as viper on a 32-bit port sees it: ptr16
    reads the unsigned 16 bits and stores the low 16; ptr32 reads the signed word, which a
    64-bit port would read zero-extended, so reading a negative one raises."""

    def __init__(self, target, bits: int):
        self.values = target.values if isinstance(target, Array) else target
        self.typecode = target.typecode if isinstance(target, Array) else ("h" if bits == 16 else "i")
        self.bits = bits

    def __getitem__(self, i):
        v = self.values[_value(i)]
        if self.bits == 16:
            return v & 0xFFFF
        if v < 0:
            raise Overflow(f"ptr32 read of {v}: a 64-bit port reads it zero-extended")
        return v

    def __setitem__(self, i, v):
        v = _value(v)
        if self.bits == 16:
            v &= 0xFFFF
            if self.typecode == "h":
                v = (v ^ 0x8000) - 0x8000
        else:
            v = _wrap32(v)
        self.values[_value(i)] = v


def _function_node(name: str, source: Path = VIPER_SOURCE) -> ast.FunctionDef:
    tree = ast.parse(source.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise LookupError(f"{source} has no function {name}")


def viper_module(source: Path):
    """Every @micropython.viper function of `source` as a 32-bit twin (load()), its ptr16 and
    ptr32 arguments given as twin Arrays (or lists) and viewed through _ArrayPtr: call them as
    the module's functions."""
    module = type(source.stem, (), {})
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.FunctionDef) and any("viper" in ast.unparse(d) for d in node.decorator_list):
            kinds = [ast.unparse(a.annotation) if a.annotation else "" for a in node.args.args]
            fn = load(node.name, source=source)

            def call(*args, _fn=fn, _kinds=kinds):
                return _fn(*(_ArrayPtr(a, 16 if k == "ptr16" else 32) if k in ("ptr16", "ptr32") else
                             (Word(a) if k == "int" else a) for a, k in zip(args, _kinds)))
            setattr(module, node.name, staticmethod(call))
    return module


def constants(name: str, source: Path = VIPER_SOURCE) -> list[int]:
    """Every integer literal in the function (viper loads a non-small int as an object)."""
    return [n.value for n in ast.walk(_function_node(name, source))
            if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool)]


class _Probe(ast.NodeTransformer):
    """Insert `_probe(VAR)` before the loop statement `if VAR < ...:` (the clamp)."""

    def __init__(self, var: str):
        self.var = var
        self.inserted = 0

    def visit_For(self, node: ast.For) -> ast.For:
        self.generic_visit(node)
        body = []
        for stmt in node.body:
            if (isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare)
                    and isinstance(stmt.test.left, ast.Name) and stmt.test.left.id == self.var):
                body.append(ast.Expr(ast.Call(ast.Name("_probe", ast.Load()), [ast.Name(self.var, ast.Load())], [])))
                self.inserted += 1
            body.append(stmt)
        node.body = body
        return node


def load(name: str, probe: str | None = None, probed: list | None = None, source: Path = VIPER_SOURCE):
    """The viper function `name` (of _viper.py or `source`) as CPython code on Words. With
    `probe`, each value the variable has at the clamp (the int32 requantized result) is
    appended to `probed`."""
    node = _function_node(name, source)
    node.decorator_list = []
    node.returns = None
    for arg in node.args.args:
        arg.annotation = None
    if probe:
        transformer = _Probe(probe)
        node = transformer.visit(node)
        if transformer.inserted != 1:
            raise LookupError(f"no single `if {probe} < ...` clamp in {name}")
    module = ast.fix_missing_locations(ast.Module([node], type_ignores=[]))
    namespace = {"int": Word, "_probe": (lambda v: probed.append(_value(v))) if probe else None}
    exec(compile(module, f"{source} ({name}, 32-bit twin)", "exec"), namespace)
    return namespace[name]


# --- the pure-Python backend on a 32-bit port --------------------------------------------

_TYPECODES = {"b": (-(1 << 7), (1 << 7) - 1), "B": (0, (1 << 8) - 1), "h": (-(1 << 15), (1 << 15) - 1),
              "H": (0, (1 << 16) - 1), "i": (MIN, MAX), "I": (0, (1 << 32) - 1)}


class Array:
    """array.array as a 32-bit port has it: a read gives a SmallInt (a value outside the
    small-int range would be a new long int there, so it raises), a store must fit the type."""

    def __init__(self, typecode: str, init=()):
        self.typecode = typecode
        self.lo, self.hi = _TYPECODES[typecode]
        if isinstance(init, (bytes, bytearray)):
            init = pyarray.array(typecode, init)
        self.values = []
        for v in init:
            self._fits(v)
            self.values.append(int(v))

    def _fits(self, v):
        if not self.lo <= _value(v) <= self.hi:
            raise Overflow(f"{_value(v)} does not fit array('{self.typecode}')")

    def __len__(self):
        return len(self.values)

    def __getitem__(self, i):
        v = self.values[_value(i)]
        if not -SMALL_INT <= v < SMALL_INT:
            raise Overflow(f"reading {v} from array('{self.typecode}') makes a long int")
        return SmallInt(v)

    def __setitem__(self, i, v):
        self._fits(v)
        self.values[_value(i)] = _value(v)
        self._bytes = None

    def __bytes__(self) -> bytes:
        return self.tobytes()

    def tobytes(self) -> bytes:
        if getattr(self, "_bytes", None) is None:
            self._bytes = pyarray.array(self.typecode, self.values).tobytes()
        return self._bytes


class _Struct:
    @staticmethod
    def unpack_from(fmt, buffer, offset=0):
        data = buffer.tobytes() if isinstance(buffer, Array) else bytes(buffer)
        return tuple(SmallInt(v) for v in struct.unpack_from(fmt, data, _value(offset)))


def _range(*args):
    return (SmallInt(v) for v in range(*(_value(a) for a in args)))


_MODULES = {"struct": _Struct, "array": type("array", (), {"array": Array}),
            "micropython": type("micropython", (), {"const": staticmethod(lambda v: v)})}


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name not in _MODULES:
        raise ImportError(f"the twin provides no module {name}")
    return _MODULES[name]


class _Literals(ast.NodeTransformer):
    """Every int literal becomes a name bound to a SmallInt made once (raises if it is not one)."""

    def __init__(self):
        self.values: dict[str, int] = {}

    def visit_Constant(self, node: ast.Constant):
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            name = f"_lit_{node.value}".replace("-", "m")
            self.values[name] = node.value
            return ast.copy_location(ast.Name(name, ast.Load()), node)
        return node


def python_constants() -> list[int]:
    """Every integer literal in _python.py (a literal outside the small-int range is a long int)."""
    return [n.value for n in ast.walk(ast.parse(PYTHON_SOURCE.read_text()))
            if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool)]


def load_python(source: str | None = None) -> dict:
    """The namespace of _python.py (or of `source`) run on SmallInts: call its functions with
    Array buffers and SmallInt or int arguments."""
    text = PYTHON_SOURCE.read_text() if source is None else source
    literals = _Literals()
    tree = ast.fix_missing_locations(literals.visit(ast.parse(text)))
    builtins_ = dict(vars(builtins), __import__=_import, range=_range, len=lambda x: SmallInt(len(x)))
    namespace: dict = {"__builtins__": builtins_, "__name__": "tinyml._python"}
    for name, v in literals.values.items():
        namespace[name] = SmallInt(v)
    exec(compile(tree, f"{PYTHON_SOURCE} (small-int twin)", "exec"), namespace)
    return namespace
