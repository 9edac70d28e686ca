"""Run one operator of a .tmdl graph through an external ELF with CMSIS-NN's s8 calling convention.

The generalisation of external_fc.py to every operator kind of format 4: CONV_2D
(`arm_convolve_wrapper_s8`), DEPTHWISE_CONV_2D (`arm_depthwise_conv_wrapper_s8`),
AVERAGE_POOL_2D (`arm_avgpool_s8`), MAX_POOL_2D (`arm_max_pool_s8`), ADD
(`arm_elementwise_add_s8`), SOFTMAX (`arm_softmax_s8`) and FULLY_CONNECTED
(`arm_fully_connected_s8`, `arm_fully_connected_per_channel_s8` for per-channel scales), with the public signatures and struct layouts of CMSIS-NN's
arm_nnfunctions.h and arm_nn_types.h (ARM-software/CMSIS-NN at 99f736a6: int32 fields, a
cmsis_nn_tile is {w, h}, cmsis_nn_dims {n, h, w, c}). The scratch buffers are sized by the
ELF's own `*_get_buffer_size` functions, called in the emulator. This repository neither
fetches nor builds CMSIS-NN (docs/benchmarks.md names the sources and the build); its test runs a
stand-in written here (tests/native/external_ops_standin.c).

What the conventions differ in, converted here from the .tmdl op: CMSIS-NN takes TFLite's raw
bias (tinyml's CONV_2D and FULLY_CONNECTED bias has the input offset folded in), row-major
weights (tinyml's matrices are in blocks of 8 rows), int32 shifts, per-channel quantization for
convolutions (a per-tensor op gets its one multiplier repeated).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "host"))

import crossrun  # noqa: E402
from cycles import counter_for  # noqa: E402

from tinyml_host import tmdl  # noqa: E402

SYMBOLS = {tmdl.OP_CONV_2D: "arm_convolve_wrapper_s8", tmdl.OP_DEPTHWISE_CONV_2D: "arm_depthwise_conv_wrapper_s8",
           tmdl.OP_AVERAGE_POOL_2D: "arm_avgpool_s8", tmdl.OP_MAX_POOL_2D: "arm_max_pool_s8",
           tmdl.OP_ADD: "arm_elementwise_add_s8", tmdl.OP_SOFTMAX: "arm_softmax_s8",
           tmdl.OP_FULLY_CONNECTED: "arm_fully_connected_s8"}
PER_CHANNEL_FC = "arm_fully_connected_per_channel_s8"
BUFFER_SIZE = {tmdl.OP_CONV_2D: "arm_convolve_wrapper_s8_get_buffer_size",
               tmdl.OP_DEPTHWISE_CONV_2D: "arm_depthwise_conv_wrapper_s8_get_buffer_size",
               tmdl.OP_AVERAGE_POOL_2D: "arm_avgpool_s8_get_buffer_size"}
GUARD = bytes(range(0xA0, 0xB0))


class ExternalError(RuntimeError):
    pass


def raw_bias(op: tmdl.Op, in_zp: int) -> np.ndarray:
    """TFLite's bias of a CONV_2D or FULLY_CONNECTED op: tinyml's folded bias + in_zp * the row's sum."""
    w = op.weights.astype(np.int64)
    bias = op.bias.astype(np.int64) + in_zp * w.reshape(len(w), -1).sum(axis=1)
    if bias.min() < -2**31 or bias.max() >= 2**31:
        raise ExternalError(f"{op.name}: the bias without the folded input offset overflows int32")
    return bias.astype("<i4")


def _dims(n, h, w, c) -> bytes:
    return struct.pack("<4i", n, h, w, c)


class ExternalOps:
    """The external ELF in its own emulated CPU, with a cycle counter."""

    def __init__(self, elf: Path, cpu: str):
        self.machine = crossrun.Machine(elf, cpu)
        self.counter = counter_for(self.machine)
        self.code_bytes = self.machine.elf.code_bytes()
        self.missing = sorted(s for s in (*SYMBOLS.values(), PER_CHANNEL_FC) if s not in self.machine.elf.symbols)

    def supports(self, kind: int) -> bool:
        return SYMBOLS[kind] not in self.missing

    def run(self, op: tmdl.Op, tensors: list, x: np.ndarray, x2: np.ndarray | None = None
            ) -> tuple[int, np.ndarray, int, int]:
        """(status, output, instructions, cycles) of one whole call of op's kernel."""
        m = self.machine
        m.reset_heap()
        src, out_t = tensors[op.inputs[0]], tensors[op.output]
        (ih, iw, ic), (oh, ow, oc) = src.shape, out_t.shape
        put8 = lambda a: m.put(np.ascontiguousarray(a, np.int8).tobytes())   # noqa: E731
        put32 = lambda a: m.put(np.ascontiguousarray(a, "<i4").tobytes())   # noqa: E731
        out_len = out_t.size
        out = m.put(bytes(out_len) + GUARD)
        kind, act = op.kind, struct.pack("<2i", op.act_min, op.act_max)
        (fh, fw), (sh, sw), (pt, pl) = op.filter, op.stride, op.padding
        in_dims, out_dims = _dims(1, ih, iw, ic), _dims(1, oh, ow, oc)
        scratch = (0, 0)

        def context(size: int) -> int:
            nonlocal scratch
            buf = m.put(bytes(size) + GUARD) if size > 0 else 0
            scratch = (buf, size)
            return m.put(struct.pack("<Ii", buf, size))

        if kind in (tmdl.OP_CONV_2D, tmdl.OP_DEPTHWISE_CONV_2D):
            n = oc
            mult = np.broadcast_to(np.asarray(op.multiplier, np.int64), (n,))
            shift = np.broadcast_to(np.asarray(op.shift, np.int64), (n,))
            quant = m.put(struct.pack("<2I", put32(mult), put32(shift)))
            tiles = struct.pack("<6i", sw, sh, pl, pt, 1, 1)                  # stride, padding, dilation {w, h}
            if kind == tmdl.OP_CONV_2D:
                params = m.put(struct.pack("<2i", -src.zero_point, out_t.zero_point) + tiles + act)
                filter_dims = _dims(oc, fh, fw, ic)
                weights = put8(op.weights)                                     # [out, fh * fw * in] row-major
                bias = put32(raw_bias(op, src.zero_point))
            else:
                params = m.put(struct.pack("<3i", -src.zero_point, out_t.zero_point, 1) + tiles + act)
                filter_dims = _dims(1, fh, fw, oc)
                weights = put8(op.weights)                                     # [fh, fw, c]
                bias = put32(op.bias)                                          # not folded
            dims = [m.put(d) for d in (in_dims, filter_dims, _dims(1, 1, 1, oc), out_dims)]
            size = m.call(BUFFER_SIZE[kind], params, dims[0], dims[1], dims[3])
            ctx = context(size)
            xa = put8(x)
            args = (ctx, params, quant, dims[0], xa, dims[1], weights, dims[2], bias, dims[3], out)
        elif kind in (tmdl.OP_AVERAGE_POOL_2D, tmdl.OP_MAX_POOL_2D):
            params = m.put(struct.pack("<4i", sw, sh, pl, pt) + act)
            size = m.call(BUFFER_SIZE[kind], ow, ic) if kind == tmdl.OP_AVERAGE_POOL_2D else 0
            ctx = context(size)
            d_in, d_f, d_out = (m.put(d) for d in (in_dims, _dims(1, fh, fw, 1), out_dims))
            args = (ctx, params, d_in, put8(x), d_f, d_out, out)
        elif kind == tmdl.OP_ADD:
            m1, s1, m2, s2, mo, so, left = (int(v) for v in op.params[:7])
            zp2 = tensors[op.inputs[1]].zero_point
            args = (put8(x), put8(x2), -src.zero_point, m1, s1, -zp2, m2, s2, left, out, out_t.zero_point, mo, so,
                    op.act_min, op.act_max, out_len)
        elif kind == tmdl.OP_SOFTMAX:
            mult, left, diff_min = (int(v) for v in op.params[:3])
            args = (put8(x), out_len // oc, oc, mult, left, diff_min, out)
        elif kind == tmdl.OP_FULLY_CONNECTED:
            n_out, n_in = op.weights.shape
            ctx = context(0)
            fc_params = m.put(struct.pack("<3i", -src.zero_point, 0, out_t.zero_point) + act)
            if len(op.multiplier) == 1:
                quant = m.put(struct.pack("<2i", int(op.multiplier[0]), int(op.shift[0])))
            else:    # arm_fully_connected_per_channel_s8: cmsis_nn_per_channel_quant_params
                quant = m.put(struct.pack("<2I", put32(op.multiplier), put32(np.asarray(op.shift, np.int64))))
            d_in, d_f, d_b, d_out = (m.put(d) for d in (_dims(1, 1, 1, n_in), _dims(n_in, 1, 1, n_out),
                                                        _dims(1, 1, 1, n_out), _dims(1, 1, 1, n_out)))
            args = (ctx, fc_params, quant, d_in, put8(x), d_f, put8(op.weights), d_b,
                    put32(raw_bias(op, src.zero_point)), d_out, out)
        else:
            raise ExternalError(f"no external kernel for {op.name}")
        symbol = SYMBOLS[kind]
        if kind == tmdl.OP_FULLY_CONNECTED and len(op.multiplier) > 1:
            symbol = PER_CHANNEL_FC
        if symbol in self.missing:
            raise ExternalError(f"{symbol} is not in the ELF")
        status, instructions, cycles = self.counter.measure(lambda: m.call(symbol, *args))
        raw = m.read(out, out_len + len(GUARD))
        buf, size = scratch
        if raw[out_len:] != GUARD or (buf and m.read(buf + size, len(GUARD)) != GUARD):
            raise ExternalError(f"{symbol} wrote past the end of its output or scratch")
        if kind == tmdl.OP_SOFTMAX:
            status = 0   # arm_softmax_s8 returns void
        return status, np.frombuffer(raw[:out_len], np.int8).copy(), instructions, cycles
