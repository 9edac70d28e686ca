"""Export: what it accepts, and a clear error naming the problem for what it refuses."""

import numpy as np
import pytest

import models
from tinyml_host import cli, export, golden, reference, tmdl
from tinyml_host.errors import TinymlError


def _keras_tflite(build, n_in, int8_io=True):
    import tensorflow as tf

    from tinyml_host.train import quantize_int8

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(n_in,))] + build(tf.keras.layers))
    rep = np.random.default_rng(0).standard_normal((32, n_in)).astype(np.float32)
    if int8_io:
        return quantize_int8(model, rep)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([r.reshape(1, -1)] for r in rep)
    return converter.convert()


def test_unsupported_op_is_named_with_its_index():
    data = _keras_tflite(lambda L: [L.Dense(8), L.Activation("tanh"), L.Dense(2)], 4)
    with pytest.raises(TinymlError, match=r"unsupported TFLite op TANH at operator index 1"):
        export.convert(data)


@pytest.mark.parametrize("rounding", ["tflm", "litert"])
def test_float_edges_and_int8_softmax_are_bit_exact(rounding):
    # float in/out: QUANTIZE first, DEQUANTIZE last; SOFTMAX is an int8 op as TFLite computes it
    data = _keras_tflite(lambda L: [L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")], 5,
                         int8_io=False)
    model = export.convert(data, rounding)
    assert model.float_input and model.float_output and model.softmax
    assert [op.name for op in model.ops] == ["FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    assert (model.output_scale, model.output_zp) == (1 / 256, -128)
    x = np.random.default_rng(1).standard_normal((40, 5)).astype(np.float32) * 3
    expected = golden.run(data, x, rounding).reshape(len(x), -1)
    np.testing.assert_array_equal(reference.predict(model, x), expected)


def test_softmax_params_are_tflites():
    """PreprocessSoftmaxScaling with 5 integer bits, worked by hand for beta 1, input scale 1/16:
    1/16 x 2**26 = 2**22 = 0.5 x 2**23, so multiplier 2**30 and left shift 23; the input radius
    31 x 2**26 / 2**23 = 248, so diff_min -248."""
    assert export.softmax_params(1.0, 1 / 16, False) == (1 << 30, 23, -248)
    # a factor too large for int32 is capped at 2**31 - 1 (shift 31, radius 31 x 2**26 / 2**31 = 0.97)
    assert export.softmax_params(1.0, 1e6, False) == ((1 << 31) - 1, 31, 0)


def test_softmax_with_another_output_scale_is_refused():
    import tflite

    data = _keras_tflite(lambda L: [L.Dense(4), L.Softmax()], 5)
    # the converter always gives 1/256: alter the file to see the check
    blob = bytearray(data)
    m = tflite.Model.GetRootAsModel(blob, 0)
    sub = m.Subgraphs(0)
    op = next(sub.Operators(i) for i in range(sub.OperatorsLength())
              if m.OperatorCodes(sub.Operators(i).OpcodeIndex()).BuiltinCode() == tflite.BuiltinOperator.SOFTMAX)
    q = sub.Tensors(op.Outputs(0)).Quantization()
    at = _vector_start(q, 8)   # QuantizationParameters.scale
    blob[at:at + 4] = np.float32(1 / 128).tobytes()
    with pytest.raises(TinymlError, match=r"SOFTMAX at operator index \d+: output .* scale 0.0078125 and zero "
                                          r"point -128; an int8 SOFTMAX gives scale 1/256"):
        export.convert(bytes(blob))


def test_float_model_is_refused():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input(shape=(3,)), tf.keras.layers.Dense(2)])
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with pytest.raises(TinymlError, match="full-int8"):
        export.convert(data)


def test_garbage_is_not_a_flatbuffer():
    with pytest.raises(TinymlError, match="TFLite"):
        export.convert(b"\x00\x01garbage" * 10)


def test_cli_export_writes_a_checked_file(tmp_path, capsys):
    src = tmp_path / "sine.tflite"
    src.write_bytes(models.sine_tflite())
    dst = tmp_path / "sine.tmdl"
    assert cli.main(["export", str(src), "-o", str(dst), "--rounding", "litert", "--vectors", "8"]) == 0
    assert "1->16->16->1" in capsys.readouterr().out
    model = tmdl.read(dst)
    assert model.rounding == "litert" and len(model.vectors_in) == 8
    # the golden vectors are the LiteRT interpreter's answers
    np.testing.assert_array_equal(model.vectors_out, golden.run_litert(src.read_bytes(), model.vectors_in))


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"nope")
    assert cli.main(["export", str(bad), "-o", str(tmp_path / "x.tmdl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tinyml export: error:") and "Traceback" not in err
    assert not (tmp_path / "x.tmdl").exists()


def _vector_start(table, field: int) -> int:
    """Byte position of a flatbuffer table's vector field (4: first field, 6: second, ...)."""
    return table._tab.Vector(table._tab.Offset(field))


def _sine_with(change) -> tuple[bytes, object]:
    import tflite

    blob = bytearray(models.sine_tflite())
    model = tflite.Model.GetRootAsModel(blob, 0)
    change(blob, model.Subgraphs(0))
    return bytes(blob), model


def test_damage_is_named_by_operator_tensor_and_value(tmp_path, capsys):
    def output_zero_point_300(blob, sub):
        out = sub.Operators(0).Outputs(0)
        zp = _vector_start(sub.Tensors(out).Quantization(), 10)   # QuantizationParameters.zero_point
        blob[zp:zp + 8] = (300).to_bytes(8, "little", signed=True)

    data, model = _sine_with(output_zero_point_300)
    sub = model.Subgraphs(0)
    t = sub.Operators(0).Outputs(0)
    src = tmp_path / "zp.tflite"
    src.write_bytes(data)
    assert cli.main(["export", str(src), "-o", str(tmp_path / "zp.tmdl")]) == 1
    assert capsys.readouterr().err == (
        f"tinyml export: error: {src}: FULLY_CONNECTED at operator index 0: output tensor {t} "
        f"'{sub.Tensors(t).Name().decode()}' has zero point 300, outside int8's -128..127\n")


def test_weights_shorter_than_their_shape(tmp_path):
    def weights_shape_doubled(blob, sub):
        w = sub.Operators(1).Inputs(1)
        shape = _vector_start(sub.Tensors(w), 4)                   # Tensor.shape
        n_out = int.from_bytes(blob[shape:shape + 4], "little")
        blob[shape:shape + 4] = (2 * n_out).to_bytes(4, "little")

    data, model = _sine_with(weights_shape_doubled)
    sub = model.Subgraphs(0)
    w = sub.Operators(1).Inputs(1)
    # LiteRT's own check sees the buffer too short for the shape first, and names the tensor
    with pytest.raises(TinymlError, match=rf"damaged TFLite model; LiteRT's checks say: .*Tensor {w} "):
        export.convert(data)


def test_truncated_file_names_the_likely_cause(tmp_path, capsys):
    src = tmp_path / "cut.tflite"
    src.write_bytes(models.sine_tflite()[:2000])
    assert cli.main(["export", str(src), "-o", str(tmp_path / "cut.tmdl")]) == 1
    assert capsys.readouterr().err == (
        f"tinyml export: error: {src}: damaged TFLite model: truncated or altered (a partial download "
        "or copy?); LiteRT's checks say: The model is not a valid Flatbuffer buffer\n")


def test_a_tmdl_given_to_export_is_not_a_tflite(tmp_path, capsys):
    src = tmp_path / "sine.tmdl"
    src.write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    assert cli.main(["export", str(src), "-o", str(tmp_path / "x.tmdl")]) == 1
    assert capsys.readouterr().err == (
        f"tinyml export: error: {src}: not a TFLite model: bytes 4..8 are {src.read_bytes()[4:8]!r}, "
        "a .tflite has b'TFL3' there\n")


def test_golden_vectors_must_agree_with_the_reference(monkeypatch):
    model = export.convert(models.sine_tflite())
    real = golden.run

    def off_by_one(data, x, rounding):
        y = real(data, x, rounding).astype(np.int16)
        y[3] += 1
        return y.clip(-128, 127).astype(np.int8)

    monkeypatch.setattr(golden, "run", off_by_one)
    with pytest.raises(TinymlError, match=r"TFLite Micro and tinyml's reference disagree on 1 of 16 golden vectors"):
        export.add_vectors(model, models.sine_tflite())


def test_missing_interpreter_package_is_named(monkeypatch):
    model = export.convert(models.sine_tflite())

    def no_tflm(data, x, rounding):
        raise ModuleNotFoundError("No module named 'tflite_micro'", name="tflite_micro")

    monkeypatch.setattr(golden, "run", no_tflm)
    with pytest.raises(TinymlError, match=r"need TFLite Micro's Python package \(tflite_micro\): "
                                          r"pip install tflite-micro, or --vectors 0"):
        export.add_vectors(model, models.sine_tflite())
