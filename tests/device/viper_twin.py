"""Run tinyml._viper's source in CPython as a 32-bit port would, with every operation checked.

A viper `int` is a machine word. On a 32-bit board an operation whose exact result leaves
[-2**31, 2**31 - 1] would wrap there but not on the 64-bit unix port CI runs, so the two
would disagree. `load(name)` compiles the named function from device/lib/tinyml/_viper.py
itself (decorator and annotations removed, so it is the same statements, not a copy) with
`int` bound to Word: every +, -, *, <<, >>, &, |, ^ on a Word asserts that its exact result
is a signed 32-bit value (so 32-bit wrap-around would give the same) and that shift counts
lie in [0, 31]. Pointers are emulated as on a 32-bit port: ptr32 reads give the signed
word, ptr8 reads the unsigned byte, stores keep the low bits.
"""

from __future__ import annotations

import ast
from pathlib import Path

VIPER_SOURCE = Path(__file__).resolve().parents[2] / "device" / "lib" / "tinyml" / "_viper.py"
MIN, MAX = -(1 << 31), (1 << 31) - 1
SMALL_INT = 1 << 30  # MicroPython small ints on 32-bit ports: |v| < 2**30


class Overflow(AssertionError):
    pass


def _wrap32(v: int) -> int:
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _value(x) -> int:
    return x.v if isinstance(x, Word) else int(x)


def _check(op: str, a, b, r: int) -> "Word":
    if not MIN <= r <= MAX or r != _wrap32(r):
        raise Overflow(f"{_value(a)} {op} {_value(b)} = {r} is not a signed 32-bit value")
    return Word(r)


def _shift_count(op: str, a, b) -> int:
    n = _value(b)
    if not 0 <= n <= 31:
        raise Overflow(f"{_value(a)} {op} {n}: shift count outside [0, 31]")
    return n


class Word:
    """A viper int on a 32-bit port."""

    __slots__ = ("v",)

    def __init__(self, v=0):
        v = _value(v)
        if not MIN <= v <= MAX:
            raise Overflow(f"{v} does not fit a 32-bit word")
        self.v = v

    def __add__(self, o):
        return _check("+", self, o, self.v + _value(o))

    def __radd__(self, o):
        return _check("+", o, self, _value(o) + self.v)

    def __sub__(self, o):
        return _check("-", self, o, self.v - _value(o))

    def __rsub__(self, o):
        return _check("-", o, self, _value(o) - self.v)

    def __mul__(self, o):
        return _check("*", self, o, self.v * _value(o))

    __rmul__ = __mul__

    def __lshift__(self, o):
        return _check("<<", self, o, self.v << _shift_count("<<", self, o))

    def __rlshift__(self, o):
        return _check("<<", o, self, _value(o) << _shift_count("<<", o, self))

    def __rshift__(self, o):  # arithmetic, as viper's int >>
        return _check(">>", self, o, self.v >> _shift_count(">>", self, o))

    def __rrshift__(self, o):
        return _check(">>", o, self, _value(o) >> _shift_count(">>", o, self))

    def __and__(self, o):
        return _check("&", self, o, self.v & _value(o))

    __rand__ = __and__

    def __or__(self, o):
        return _check("|", self, o, self.v | _value(o))

    __ror__ = __or__

    def __xor__(self, o):
        return _check("^", self, o, self.v ^ _value(o))

    __rxor__ = __xor__

    def __neg__(self):
        return _check("neg", 0, self, -self.v)

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
        return f"Word({self.v})"


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


def _function_node(name: str) -> ast.FunctionDef:
    tree = ast.parse(VIPER_SOURCE.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise LookupError(f"{VIPER_SOURCE} has no function {name}")


def constants(name: str) -> list[int]:
    """Every integer literal in the function (viper loads a non-small int as an object)."""
    return [n.value for n in ast.walk(_function_node(name))
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


def load(name: str, probe: str | None = None, probed: list | None = None):
    """The viper function `name` as CPython code on Words. With `probe`, each value the variable
    has at the clamp (the int32 requantized result) is appended to `probed`."""
    node = _function_node(name)
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
    exec(compile(module, f"{VIPER_SOURCE} ({name}, 32-bit twin)", "exec"), namespace)
    return namespace[name]
