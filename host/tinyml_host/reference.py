"""numpy int8 reference: exactly TFLite's integer arithmetic for every .tmdl operator.

Two rounding schemes, as in TFLite itself:
- "tflm": TFLite Micro and CMSIS-NN. SaturatingRoundingDoublingHighMul, then
  RoundingDivideByPOT (double rounding).
- "litert": the LiteRT interpreter's reference kernels and XNNPACK. One
  round-half-up shift of the 64-bit product (single rounding).

Activations are NHWC int8 arrays with a leading batch axis; every op works on the whole batch.
SOFTMAX is TFLite's fixed-point algorithm (gemmlowp's exp and reciprocal), reimplemented here
on int64 arrays with int32 wrap-around where C would wrap.
"""

from __future__ import annotations

import math

import numpy as np

from . import tmdl
from .tmdl import Layer, TmdlModel

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def quantize_multiplier(real: float, single_rounding: bool = False) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real ~= q * 2**(shift - 31), q in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    scaled = frac * (1 << 31)
    q = int(math.floor(abs(scaled) + 0.5)) * (1 if scaled >= 0 else -1)  # round half away from zero
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if single_rounding and shift > 30:
        return (1 << 31) - 1, 30
    return q, shift


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul: round(a * b / 2**31), C's truncating division after
    a nudge, saturated where both are INT32_MIN. int32 values in int64 arrays."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    high = np.where(ab >= 0, (ab + (1 << 30)) >> 31, -((-ab + (1 << 30) - 1) >> 31))
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def _rounding_divide_by_pot(x: np.ndarray, exponent) -> np.ndarray:
    """RoundingDivideByPOT: x / 2**exponent rounded half away from zero."""
    x = np.asarray(x, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def _saturating_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64) << exponent, INT32_MIN, INT32_MAX)


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, rounding: str) -> np.ndarray:
    """acc * multiplier * 2**(shift - 31), rounded the way `rounding` says. int64 in, int64 out."""
    acc = np.asarray(acc).astype(np.int64)
    m = np.asarray(multiplier).astype(np.int64)
    s = np.asarray(shift).astype(np.int64)
    if rounding == "litert":
        total = 31 - s
        # TFLite narrows the 64-bit result with static_cast<int32_t>: it wraps
        return _wrap32((acc * m + (np.int64(1) << (total - 1))) >> total)
    if rounding != "tflm":
        raise ValueError(f"unknown rounding {rounding!r}; use 'tflm' or 'litert'")
    x = _wrap32(acc << np.maximum(s, 0))          # int32 multiply by 2**left wraps in C
    return _rounding_divide_by_pot(_srdhm(x, m), np.maximum(-s, 0))


def _clamp(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(values, lo, hi).astype(np.int8)


def _matmul(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """int8 [..., K] @ int8 [N, K].T as int64. Done in float64 for BLAS speed: every product
    and partial sum is an integer below 2**53 (|sum| <= 2**14 * K, K < 2**32), so it is exact."""
    return (x.astype(np.float64) @ weights.astype(np.float64).T).astype(np.int64)


def fully_connected(x: np.ndarray, layer: Layer, rounding: str) -> np.ndarray:
    """int8 [batch, in] -> int8 [batch, out]."""
    acc = _wrap32(_matmul(x, layer.weights) + layer.bias.astype(np.int64))
    out = requantize(acc, layer.multiplier, layer.shift, rounding) + layer.output_zp
    return _clamp(out, layer.act_min, layer.act_max)


def _windows(x: np.ndarray, op: tmdl.Op, out_hw: tuple[int, int], fill: int) -> np.ndarray:
    """[batch, out_h, out_w, filter_h, filter_w, c] views of x [batch, h, w, c]: each output
    position's window, positions outside the input holding `fill`."""
    (fh, fw), (sh, sw), (pt, pl) = op.filter, op.stride, op.padding
    oh, ow = out_hw
    pb = max(0, (oh - 1) * sh + fh - pt - x.shape[1])
    pr = max(0, (ow - 1) * sw + fw - pl - x.shape[2])
    padded = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    views = np.lib.stride_tricks.sliding_window_view(padded, (fh, fw), axis=(1, 2))
    return views[:, :(oh - 1) * sh + 1:sh, :(ow - 1) * sw + 1:sw].transpose(0, 1, 2, 4, 5, 3)


def conv_2d(x: np.ndarray, op: tmdl.Op, in_zp: int, out: tmdl.Tensor, rounding: str) -> np.ndarray:
    """A fully connected layer over each window; padding holds the input zero point, so the bias
    (input offset folded in) is exact at the edges too."""
    win = _windows(x, op, out.shape[:2], in_zp)
    acc = _wrap32(_matmul(win.reshape(win.shape[:3] + (-1,)), op.weights) + op.bias.astype(np.int64))
    return _clamp(requantize(acc, op.multiplier, op.shift, rounding) + out.zero_point, op.act_min, op.act_max)


def depthwise_conv_2d(x: np.ndarray, op: tmdl.Op, in_zp: int, out: tmdl.Tensor, rounding: str) -> np.ndarray:
    """Each channel its own filter over (x - input zero point); padding adds nothing."""
    win = _windows(x.astype(np.int64) - in_zp, op, out.shape[:2], 0)
    acc = _wrap32((win * op.weights.astype(np.int64)).sum(axis=(3, 4)) + op.bias.astype(np.int64))
    return _clamp(requantize(acc, op.multiplier, op.shift, rounding) + out.zero_point, op.act_min, op.act_max)


def average_pool_2d(x: np.ndarray, op: tmdl.Op, out: tmdl.Tensor) -> np.ndarray:
    """The mean of the window's positions inside the input, rounded half away from zero."""
    total = _windows(x.astype(np.int64), op, out.shape[:2], 0).sum(axis=(3, 4))
    inside = np.ones((1,) + x.shape[1:3] + (1,), np.int64)
    count = _windows(inside, op, out.shape[:2], 0).sum(axis=(3, 4))
    half = count // 2
    mean = np.where(total > 0, (total + half) // count, -((half - total) // count))
    return _clamp(mean, op.act_min, op.act_max)


def max_pool_2d(x: np.ndarray, op: tmdl.Op, out: tmdl.Tensor) -> np.ndarray:
    """The largest of the window's positions inside the input (padding below any int8)."""
    return _clamp(_windows(x.astype(np.int64), op, out.shape[:2], -129).max(axis=(3, 4)), op.act_min, op.act_max)


def add(x1: np.ndarray, x2: np.ndarray, op: tmdl.Op, zps: tuple[int, int, int], rounding: str) -> np.ndarray:
    """TFLite's int8 add: both inputs moved to a common scale with `left_shift` bits of headroom,
    summed, then rescaled to the output."""
    m1, s1, m2, s2, mo, so, left = (int(v) for v in op.params[:7])
    a = requantize(_wrap32((x1.astype(np.int64) - zps[0]) << left), m1, s1, rounding)
    b = requantize(_wrap32((x2.astype(np.int64) - zps[1]) << left), m2, s2, rounding)
    out = requantize(_wrap32(a + b), mo, so, rounding) + zps[2]
    return _clamp(out, op.act_min, op.act_max)


# Fixed-point formats of TFLite's int8 softmax (gemmlowp FixedPoint<int32, integer bits>).
_DIFF_INTEGER_BITS = 5     # the scaled differences from the row's maximum
_SUM_INTEGER_BITS = 12     # the sum of exponentials


def _fixed(value: float, integer_bits: int) -> int:
    """`value` as the raw int32 of a fixed-point number with `integer_bits` integer bits."""
    return int(round(value * (1 << (31 - integer_bits))))


# exp(-2**k) for the bits of the input above one quarter, applied as a barrel shifter
_EXP_OF_POWERS = [(k, _fixed(math.exp(-2.0 ** k), 0)) for k in range(-2, _DIFF_INTEGER_BITS)]


def _exp_on_small_interval(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0) (0 integer bits): a 4th-order Taylor series around -1/8."""
    exp_minus_eighth, third = _fixed(math.exp(-1.0 / 8.0), 0), _fixed(1.0 / 3.0, 0)
    x = a + (1 << 28)                                    # a + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _rounding_divide_by_pot(x4, 2)
    series = _rounding_divide_by_pot(_wrap32(_srdhm(_wrap32(x4_over_4 + x3), third) + x2), 1)
    return _wrap32(exp_minus_eighth + _srdhm(exp_minus_eighth, _wrap32(x + series)))


def _exp_on_negative_values(a: np.ndarray) -> np.ndarray:
    """exp(a) for a <= 0 with 5 integer bits, result with 0 integer bits (1.0 as INT32_MAX)."""
    fraction_bits = 31 - _DIFF_INTEGER_BITS
    quarter = 1 << (fraction_bits - 2)
    a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter
    result = _exp_on_small_interval(_saturating_shift_left(a_mod_quarter_minus_quarter, _DIFF_INTEGER_BITS))
    remainder = _wrap32(a_mod_quarter_minus_quarter - a)
    for k, exp_of_power in _EXP_OF_POWERS:
        result = np.where(remainder & (1 << (fraction_bits + k)), _srdhm(result, exp_of_power), result)
    return np.where(a == 0, INT32_MAX, result)


def _reciprocal(sum_of_exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1 / x normalized to [0.5, 1) with 0 integer bits, how many bits x was above 1.0) for x > 0
    with _SUM_INTEGER_BITS integer bits: Newton-Raphson on 1 / (1 + y), y in [0, 1)."""
    bits = sum((sum_of_exps >= (1 << k)).astype(np.int64) for k in range(32))
    headroom = 32 - bits
    y = _wrap32((sum_of_exps << headroom) - (1 << 31))
    s = y + INT32_MAX
    half_denominator = (s + np.where(s >= 0, 1, -1)) // 2     # RoundingHalfSum(y, 1.0); s >= 0 here
    x = _wrap32(_fixed(48.0 / 17.0, 2) + _srdhm(half_denominator, _fixed(-32.0 / 17.0, 2)))
    one = 1 << 29                                            # 1.0 with 2 integer bits
    for _ in range(3):
        error = _wrap32(one - _srdhm(half_denominator, x))
        x = _wrap32(x + _saturating_shift_left(_srdhm(x, error), 2))
    # x approximates 1 / half_denominator with 2 integer bits; half of it, read with 0 integer bits
    return _saturating_shift_left(x, 1), _SUM_INTEGER_BITS - headroom


def softmax_int8(x: np.ndarray, op: tmdl.Op) -> np.ndarray:
    """TFLite's int8 softmax over the last axis, output scale 1/256 and zero point -128."""
    multiplier, left_shift, diff_min = (int(v) for v in op.params[:3])
    v = x.astype(np.int64)
    diff = v - v.max(axis=-1, keepdims=True)
    counted = diff >= diff_min
    exps = _exp_on_negative_values(_srdhm(_wrap32(diff << left_shift), multiplier))
    in_sum = np.where(counted, _rounding_divide_by_pot(exps, _SUM_INTEGER_BITS), 0)   # to the sum's format
    scale, bits_over_one = _reciprocal(_wrap32(in_sum.sum(axis=-1, keepdims=True)))
    out = _rounding_divide_by_pot(_srdhm(scale, exps), bits_over_one + 31 - 8) - 128
    return np.where(counted, np.clip(out, -128, 127), -128).astype(np.int8)


def op_rounding(kind: int, rounding: str) -> str:
    """The rounding an op of `kind` requantizes with under a model's rounding. LiteRT's
    reference kernels round once for FULLY_CONNECTED and ADD but twice (as TFLite Micro does) for
    CONV_2D and DEPTHWISE_CONV_2D: measured against ai-edge-litert's BUILTIN_REF on the MLPerf
    Tiny models and the random CNNs (tests/host/test_graphs.py)."""
    if rounding == "litert" and kind in (tmdl.OP_CONV_2D, tmdl.OP_DEPTHWISE_CONV_2D):
        return "tflm"
    return rounding


def _run_op(op: tmdl.Op, values: list, tensors: list, rounding: str) -> np.ndarray:
    x = values[op.inputs[0]]
    rounding = op_rounding(op.kind, rounding)
    in_zp, out = tensors[op.inputs[0]].zero_point, tensors[op.output]
    if op.kind == tmdl.OP_FULLY_CONNECTED:
        layer = Layer(op.weights, op.bias, op.multiplier, op.shift, op.act_min, op.act_max, out.zero_point)
        return fully_connected(x.reshape(len(x), -1), layer, rounding)
    if op.kind == tmdl.OP_CONV_2D:
        return conv_2d(x, op, in_zp, out, rounding)
    if op.kind == tmdl.OP_DEPTHWISE_CONV_2D:
        return depthwise_conv_2d(x, op, in_zp, out, rounding)
    if op.kind == tmdl.OP_AVERAGE_POOL_2D:
        return average_pool_2d(x, op, out)
    if op.kind == tmdl.OP_MAX_POOL_2D:
        return max_pool_2d(x, op, out)
    if op.kind == tmdl.OP_ADD:
        zps = (in_zp, tensors[op.inputs[1]].zero_point, out.zero_point)
        return add(x, values[op.inputs[1]], op, zps, rounding)
    if op.kind == tmdl.OP_SOFTMAX:
        return softmax_int8(x, op)
    raise ValueError(f"unknown operator kind {op.kind}")


def run_all(model: TmdlModel, x_int8: np.ndarray) -> list[np.ndarray]:
    """Every tensor's values, int8 [batch, h, w, c], for int8 inputs [batch, input size]."""
    x = np.asarray(x_int8, dtype=np.int8).reshape((-1,) + model.tensors[0].shape)
    values: list = [None] * len(model.tensors)
    values[0] = x
    for op in model.ops:
        values[op.output] = _run_op(op, values, model.tensors, model.rounding).reshape(
            (len(x),) + model.tensors[op.output].shape)
    return values


def run(model: TmdlModel, x_int8: np.ndarray) -> np.ndarray:
    """Integer inference: int8 [batch, in] (or [in]) -> int8 [batch, out] (or [out])."""
    x = np.asarray(x_int8, dtype=np.int8)
    single = x.ndim == 1
    y = run_all(model, x.reshape(-1, model.input_size))[-1].reshape(-1, model.output_size)
    return y[0] if single else y


def quantize(values, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 as TFLite's QUANTIZE: round half away from zero of value/scale (float32)."""
    v = np.asarray(values, dtype=np.float32) / np.float32(scale)
    q = np.where(v >= 0, np.floor(v + 0.5), -np.floor(-v + 0.5)).astype(np.int64) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.int64) - zero_point).astype(np.float32) * np.float32(scale)


def predict(model: TmdlModel, x) -> np.ndarray:
    """Float in, float out, through the integer path (what the device's predict does)."""
    q = quantize(np.asarray(x, np.float32).reshape(-1, model.input_size), model.input_scale, model.input_zp)
    return dequantize(run(model, q), model.output_scale, model.output_zp)
