"""numpy int8 reference: exactly TFLite's integer arithmetic for fully connected layers.

Two rounding schemes, as in TFLite itself:
- "tflm": TFLite Micro and CMSIS-NN. SaturatingRoundingDoublingHighMul, then
  RoundingDivideByPOT (double rounding).
- "litert": the LiteRT interpreter's reference kernels and XNNPACK. One
  round-half-up shift of the 64-bit product (single rounding).
"""

from __future__ import annotations

import math

import numpy as np

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


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, rounding: str) -> np.ndarray:
    """acc * multiplier * 2**(shift - 31), rounded the way `rounding` says. int64 in, int64 out."""
    acc = acc.astype(np.int64)
    m = multiplier.astype(np.int64)
    s = shift.astype(np.int64)
    if rounding == "litert":
        total = 31 - s
        # TFLite narrows the 64-bit result with static_cast<int32_t>: it wraps
        return _wrap32((acc * m + (np.int64(1) << (total - 1))) >> total)
    if rounding != "tflm":
        raise ValueError(f"unknown rounding {rounding!r}; use 'tflm' or 'litert'")
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    x = _wrap32(acc << left)                      # int32 multiply by 2**left wraps in C
    ab = x * m
    # SaturatingRoundingDoublingHighMul: (ab + nudge) / 2**31, C division truncates toward zero
    high = np.where(ab >= 0, (ab + (1 << 30)) >> 31, -((-ab + (1 << 30) - 1) >> 31))
    high = np.where((x == INT32_MIN) & (m == INT32_MIN), INT32_MAX, high)
    # RoundingDivideByPOT
    mask = (np.int64(1) << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + (remainder > threshold)


def fully_connected(x: np.ndarray, layer: Layer, rounding: str) -> np.ndarray:
    """int8 [batch, in] -> int8 [batch, out]."""
    acc = x.astype(np.int64) @ layer.weights.astype(np.int64).T + layer.bias.astype(np.int64)
    acc = _wrap32(acc)
    out = requantize(acc, layer.multiplier, layer.shift, rounding) + layer.output_zp
    return np.clip(out, layer.act_min, layer.act_max).astype(np.int8)


def run(model: TmdlModel, x_int8: np.ndarray) -> np.ndarray:
    """Integer inference: int8 [batch, in] (or [in]) -> int8 [batch, out] (or [out])."""
    x = np.asarray(x_int8, dtype=np.int8)
    single = x.ndim == 1
    x = x.reshape(-1, model.input_size)
    for layer in model.layers:
        x = fully_connected(x, layer, model.rounding)
    return x[0] if single else x


def quantize(values, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 as TFLite's QUANTIZE: round half away from zero of value/scale (float32)."""
    v = np.asarray(values, dtype=np.float32) / np.float32(scale)
    q = np.where(v >= 0, np.floor(v + 0.5), -np.floor(-v + 0.5)).astype(np.int64) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.int64) - zero_point).astype(np.float32) * np.float32(scale)


def softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def predict(model: TmdlModel, x) -> np.ndarray:
    """Float in, float out, through the integer path (what the device's predict does)."""
    q = quantize(np.asarray(x, np.float32).reshape(-1, model.input_size), model.input_scale, model.input_zp)
    y = dequantize(run(model, q), model.output_scale, model.output_zp)
    return softmax(y) if model.softmax else y
