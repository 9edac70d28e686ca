"""native/tools/external_fc.py: an external kernel with CMSIS-NN's calling convention, priced beside tml_fc_s8.

CMSIS-NN itself is never built here: a stand-in with the same signature and struct layouts,
written for this test (external_fc_standin.c: one MAC at a time, tml_requantize), plays the
external ELF. The oracles are independent of the tool: the numpy reference, `make bench`'s own
measurement of tml_fc_s8 (bench.measure), LiteRT's reading of the .tflite's bias tensors and
TFLite Micro's interpreter for AD01's output.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import bench  # noqa: E402
import crossrun  # noqa: E402
import external_fc  # noqa: E402

from tinyml_host.reference import fully_connected  # noqa: E402

STANDIN = Path(__file__).resolve().parent / "external_fc_standin.c"
AD01 = external_fc.SHARED_MODELS / "ad01_int8.tflite"


def _standin(cpu: str, out: Path) -> Path:
    try:
        crossrun.gcc(cpu)
        crossrun._unicorn()
    except crossrun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    return crossrun.build(cpu, out, exports=(external_fc.SYMBOL, "standin_fc_no_input_offset"),
                          sources=[STANDIN, crossrun.CORE / "requantize.c"])


@pytest.mark.parametrize("cpu", list(crossrun.CPUS))
def test_bench_shapes_bit_exact_and_tinyml_priced_as_make_bench_does(cpu, tmp_path):
    ext = external_fc.External(_standin(cpu, tmp_path / "standin"), cpu)
    cases = external_fc.bench_cases()
    rows = external_fc.compare(ext, cases, tmp_path / "tiny")
    bench_rows = bench.measure(cpu, bench.SHAPES, {"tinyml": "tml_fc_s8"}, tmp_path / "bench")
    assert [r["shape"] for r in rows] == [r["shape"] for r in bench_rows] == ["16x16", "64x64", "256x64", "1024x64"]
    for row, b in zip(rows, bench_rows):
        assert row["tinyml_cycles"] == b["cycles"]       # the same figure make bench prints
        # one MAC at a time: at least a load, a multiply and an add per MAC were executed and priced
        assert row["external_instructions"] >= 3 * row["macs"]
        assert row["external_cycles"] >= row["external_instructions"]
    for case in cases:
        status, out, _, _ = ext.run(case)
        assert status == 0
        np.testing.assert_array_equal(out, fully_connected(case.x.reshape(1, -1), case.layer, "tflm").reshape(-1))


def test_the_input_offset_reaches_the_external_kernel(tmp_path):
    """A layer with an input zero point: the stand-in that drops the offset is caught, the one that
    applies it matches; with zero point 0 both match."""
    from tinyml_host.reference import quantize_multiplier
    from tinyml_host.tmdl import Layer

    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, size=(8, 24)).astype(np.int8)
    raw_bias = rng.integers(-3000, 3000, size=8).astype(np.int64)
    m, s = quantize_multiplier(1 / 300)
    x = rng.integers(-128, 128, size=24).astype(np.int8)
    elf = _standin("cortex-m4", tmp_path / "standin")
    for zp in (-7, 0):
        folded = (raw_bias - zp * w.astype(np.int64).sum(axis=1)).astype(np.int32)
        case = external_fc.Case("zp", Layer(w, folded, np.array([m], np.int32), np.array([s], np.int8), -128, 127, 4),
                                zp, x)
        np.testing.assert_array_equal(case.raw_bias(), raw_bias)
        external_fc.compare(external_fc.External(elf, "cortex-m4"), [case], tmp_path / "tiny")
        dropped = external_fc.External(elf, "cortex-m4", symbol="standin_fc_no_input_offset")
        if zp:
            with pytest.raises(external_fc.Mismatch, match="differs from the reference"):
                external_fc.compare(dropped, [case], tmp_path / "tiny")
        else:
            external_fc.compare(dropped, [case], tmp_path / "tiny")


def test_main_without_ad01_says_so_and_writes_the_rows(tmp_path, capsys):
    elf = _standin("cortex-m0plus", tmp_path / "standin")
    out = tmp_path / "rows.json"
    assert external_fc.main(["--elf", str(elf), "--cpu", "cortex-m0plus", "--models", str(tmp_path),
                             "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"AD01 left out: ad01_int8.tflite or the recording is not in {tmp_path}" in printed
    import json

    data = json.loads(out.read_text())
    assert [r["case"] for r in data["rows"]] == ["16x16", "64x64", "256x64", "1024x64"]
    assert data["external_code_bytes"] > 0 and data["tinyml_code_bytes"] > 0


@pytest.mark.skipif(not AD01.exists(), reason=f"{AD01} is not here (../shared/models, beside the repo)")
def test_ad01_cases_are_the_models_layers(tmp_path):
    """Each case's raw bias is the .tflite's bias tensor (read by LiteRT), the chain ends at TFLite
    Micro's output for the window, and both kernels run all ten layers bit-exact."""
    from ai_edge_litert import interpreter as litert

    from tinyml_host import golden

    cases = external_fc.ad01_cases()
    assert [c.layer.weights.shape[::-1] for c in cases] == list(zip(bench.AD01_WIDTHS, bench.AD01_WIDTHS[1:]))
    data = AD01.read_bytes()
    interp = litert.Interpreter(model_content=data)
    interp.allocate_tensors()
    fcs = [op for op in interp._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    assert len(fcs) == len(cases)
    for case, op in zip(cases, fcs):
        np.testing.assert_array_equal(case.raw_bias(), interp.get_tensor(op["inputs"][2]))
        np.testing.assert_array_equal(case.layer.weights, interp.get_tensor(op["inputs"][1]))
        assert case.input_zp == tensors[op["inputs"][0]]["quantization"][1]
    last = cases[-1]
    out = fully_connected(last.x.reshape(1, -1), last.layer, "tflm").reshape(-1)
    np.testing.assert_array_equal(out, golden.run(data, cases[0].x.reshape(1, -1), "tflm").reshape(-1))
    rows = external_fc.compare(external_fc.External(_standin("cortex-m4", tmp_path / "s"), "cortex-m4"),
                               cases, tmp_path / "tiny")
    assert sum(r["macs"] for r in rows) == 264192
