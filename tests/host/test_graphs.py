"""Graphs of int8 operators: the numpy reference against TFLite Micro and LiteRT, byte for byte,
on the MLPerf Tiny models and on random CNNs made by the real converter (models.cnn_recipe)."""

from pathlib import Path

import numpy as np
import pytest

import models
from tinyml_host import export, golden, reference, tmdl

SHARED = Path(__file__).resolve().parents[3] / "shared" / "models"
MLPERF = ["kws_ref_model", "pretrainedResnet_quant", "vww_96_int8", "str_ww_ref_model"]


def _mlperf(name: str) -> bytes:
    path = SHARED / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path} is absent: the MLPerf Tiny models are not in the repo")
    return path.read_bytes()


def _inputs(n: int, count: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).integers(-128, 128, size=(count, n)).astype(np.int8)
    return np.vstack([x, np.full((1, n), -128, np.int8), np.full((1, n), 127, np.int8)])


def _roundtrip(data: bytes, rounding: str) -> tmdl.TmdlModel:
    model = export.convert(data, rounding)
    blob = tmdl.encode(model)
    back = tmdl.decode(blob)
    assert tmdl.encode(back) == blob
    return back


@pytest.mark.parametrize("rounding", ["tflm", "litert"])
@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_models_whole_outputs(name, rounding):
    data = _mlperf(name)
    model = _roundtrip(data, rounding)
    x = _inputs(model.input_size, 6, 1)
    np.testing.assert_array_equal(reference.run(model, x), golden.run(data, x, rounding).reshape(len(x), -1))


@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_models_every_intermediate_tensor_litert(name):
    """Every tensor the graph computes, against LiteRT's own (preserved) tensors: a difference
    names the first operator that goes wrong."""
    from ai_edge_litert import interpreter as litert

    data = _mlperf(name)
    model, sources = export.convert_mapped(data, "litert")
    interp = litert.Interpreter(model_content=data, experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
                                experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    for row in _inputs(model.input_size, 2, 2):
        interp.set_tensor(inp["index"], row.reshape(inp["shape"]))
        interp.invoke()
        values = reference.run_all(model, row.reshape(1, -1))
        for k, op in enumerate(model.ops):
            want = interp.get_tensor(sources[op.output]).reshape(-1)
            assert np.array_equal(values[op.output].reshape(-1), want), f"operator {k} ({op.name})"


@pytest.mark.parametrize("index", range(models.RANDOM_CNN_COUNT))
def test_random_cnn(index):
    data = models.random_cnn_tflite(index)
    for rounding in ("tflm", "litert"):
        model = _roundtrip(data, rounding)
        x = _inputs(model.input_size, 20, index)
        np.testing.assert_array_equal(reference.run(model, x), golden.run(data, x, rounding).reshape(len(x), -1))


def test_random_cnns_cover_every_operator_and_option():
    kinds, options = set(), set()
    for i in range(models.RANDOM_CNN_COUNT):
        model = export.convert(models.random_cnn_tflite(i))
        kinds |= {op.name for op in model.ops}
        options |= {("stride", op.stride[0]) for op in model.ops if op.filter != (0, 0)}
        options |= {("padded", op.padding != (0, 0)) for op in model.ops if op.filter != (0, 0)}
        options |= {("per-channel", op.channels > 1) for op in model.ops if op.channels}
        options |= {("odd", s % 2) for t in model.tensors for s in t.shape[:2]}
    assert kinds == set(tmdl.OP_NAMES.values())
    assert options >= {("stride", 1), ("stride", 2), ("padded", True), ("padded", False), ("per-channel", True),
                       ("per-channel", False), ("odd", 1)}
    recipes = [models.cnn_recipe(i) for i in range(models.RANDOM_CNN_COUNT)]
    assert {o["act"] for r in recipes for _, o in r["blocks"]} == {"relu", "relu6", "linear"}


def test_conv_params_follow_tflite():
    """The first convolution of KWS, checked against TFLite's own definitions: SAME padding of a
    49x10 input by a 10x4 filter at stride 2 (25x5 out) needs (24*2+10-49)=9 rows, 4 on top, and
    (4*2+4-10)=2 columns, 1 on the left; the bias folds in the input zero point."""
    import tflite

    data = _mlperf("kws_ref_model")
    model = export.convert(data)
    conv = model.ops[0]
    assert (conv.name, conv.filter, conv.stride, conv.padding) == ("CONV_2D", (10, 4), (2, 2), (4, 1))
    g = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
    op = g.Operators(0)
    bias = g.Tensors(op.Inputs(2))
    raw = tflite.Model.GetRootAsModel(data, 0).Buffers(bias.Buffer()).DataAsNumpy().view("<i4")
    zp = g.Tensors(op.Inputs(0)).Quantization().ZeroPoint(0)
    np.testing.assert_array_equal(conv.bias, raw - zp * conv.weights.astype(np.int64).sum(axis=1))


def test_arena_plans_hold_every_model():
    for name in MLPERF:
        model = export.convert(_mlperf(name))
        tmdl.check_arena(model.ops, model.tensors, model.arena_bytes)
        largest = max(t.size for t in model.tensors)
        assert largest <= model.arena_bytes <= sum(t.size + 3 for t in model.tensors)
