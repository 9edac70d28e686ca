"""native/tools/model_bench.py and external_ops.py: whole graphs op by op on the emulated cores,
native/core beside an ELF with CMSIS-NN's s8 calling convention.

CMSIS-NN itself is never built here: a stand-in written for this test (external_ops_standin.c:
one tap at a time with tml_requantize, ADD and SOFTMAX through tinyml's kernels) plays the
external ELF. The oracle is the host reference (bit-exact with TFLite Micro, tests/host/test_graphs.py);
the CNNs are the real converter's (tests/models.py random CNNs)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import crossrun  # noqa: E402
import external_ops  # noqa: E402
import model_bench  # noqa: E402

import models  # noqa: E402
from tinyml_host import export, tmdl  # noqa: E402

STANDIN = Path(__file__).resolve().parent / "external_ops_standin.c"
CNNS = (1, 2, 4, 7)   # between them: CONV_2D, DEPTHWISE_CONV_2D, both pools, ADD, SOFTMAX, FULLY_CONNECTED


def _standin(cpu: str, out: Path, drop_input_offset: bool = False) -> Path:
    try:
        crossrun.gcc(cpu)
        crossrun._unicorn()
    except crossrun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    src = STANDIN
    if drop_input_offset:
        src = out / "standin_drop.c"
        out.mkdir(parents=True, exist_ok=True)
        src.write_text(f'#define STANDIN_DROP_INPUT_OFFSET\n#include "{STANDIN}"\n')
    return crossrun.build(cpu, out, exports=(*external_ops.SYMBOLS.values(), external_ops.PER_CHANNEL_FC, *
        external_ops.BUFFER_SIZE.values()), sources=[src] + [crossrun.CORE / s for s in crossrun.CORE_SOURCES])


@pytest.fixture(scope="module")
def cnns(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnns")
    found = []
    for i in CNNS:
        (out / f"cnn{i}.tflite").write_bytes(models.random_cnn_tflite(i))
        found.append(model_bench.load_model(f"cnn{i}", out / f"cnn{i}.tflite"))
    return found


def test_the_cnns_cover_every_kind(cnns):
    kinds = {op.kind for m in cnns for op in m.model.ops}
    assert kinds == set(tmdl.OP_NAMES)


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0plus", "rv32imac"])
def test_every_op_bit_exact_on_both_sides_and_summed(cpu, cnns, tmp_path):
    elf = _standin(cpu, tmp_path / "standin")
    results = model_bench.run(cnns, [cpu], {cpu: elf}, tmp_path / "build", model_bench.Cache(None), log=lambda s: None)
    assert [r["model"] for r in results] == [m.name for m in cnns]
    for r, m in zip(results, cnns):
        assert len(r["ops"]) == len(m.model.ops)
        assert r["tinyml_cycles"] == sum(o["cycles"] for o in r["ops"])
        assert r["external_cycles"] == sum(o["external_cycles"] for o in r["ops"])
        assert all(o["cycles"] > 0 and o["external_cycles"] > 0 for o in r["ops"])
        # MACs counted independently: conv out_h out_w out_c fh fw in_c, depthwise out_h out_w c fh fw
        want = 0
        for op in m.model.ops:
            (ih, iw, ic), (oh, ow, oc) = m.model.tensors[op.inputs[0]].shape, m.model.tensors[op.output].shape
            if op.kind == tmdl.OP_CONV_2D:
                want += oh * ow * oc * op.filter[0] * op.filter[1] * ic
            elif op.kind == tmdl.OP_DEPTHWISE_CONV_2D:
                want += oh * ow * oc * op.filter[0] * op.filter[1]
            elif op.kind == tmdl.OP_FULLY_CONNECTED:
                want += ih * iw * ic * oh * ow * oc
        assert r["macs"] == want


def test_a_wrong_external_kernel_is_caught(cnns, tmp_path):
    """The stand-in that drops the input offset gives other outputs wherever an input zero
    point is not 0: model_bench stops with Mismatch naming the op."""
    model = next(m for m in cnns if any(op.kind == tmdl.OP_CONV_2D and m.model.tensors[op.inputs[0]].zero_point
                                        for op in m.model.ops))
    elf = _standin("cortex-m4", tmp_path / "drop", drop_input_offset=True)
    with pytest.raises(model_bench.Mismatch, match="external: status 0, [1-9][0-9]* of"):
        model_bench.run([model], ["cortex-m4"], {"cortex-m4": elf}, tmp_path / "build", model_bench.Cache(None),
                        log=lambda s: None)


def test_a_cached_op_is_not_run_again_and_gives_the_same_cycles(cnns, tmp_path):
    cache = model_bench.Cache(tmp_path / "cache.json")
    first = model_bench.run(cnns[:1], ["cortex-m4"], {}, tmp_path / "build", cache, log=lambda s: None)[0]
    again = model_bench.run(cnns[:1], ["cortex-m4"], {}, tmp_path / "build",
                            model_bench.Cache(tmp_path / "cache.json"), log=lambda s: None)[0]
    assert not any(o["cached"] for o in first["ops"][:1])
    assert all(o["cached"] for o in again["ops"])
    assert [o["cycles"] for o in again["ops"]] == [o["cycles"] for o in first["ops"]]


def test_raw_bias_undoes_the_fold():
    rng = np.random.default_rng(2)
    w = rng.integers(-127, 128, size=(5, 12)).astype(np.int8)
    raw = rng.integers(-9000, 9000, size=5)
    zp = -11
    op = tmdl.Op(tmdl.OP_FULLY_CONNECTED, (0,), 1, weights=w, bias=(raw - zp * w.astype(np.int64).sum(axis=1)).astype(
        np.int32), multiplier=np.array([1 << 30], np.int32), shift=np.array([-3], np.int8))
    np.testing.assert_array_equal(external_ops.raw_bias(op, zp), raw)


def test_op_costs_are_cycles_over_units(cnns, tmp_path):
    from tinyml_host.estimate import op_work

    results = model_bench.run(cnns, ["cortex-m4"], {}, tmp_path / "build", model_bench.Cache(None), log=lambda s: None)
    costs = model_bench.op_costs(results)["cortex-m4"]
    sums = {}
    for r, m in zip(results, cnns):
        for o, op in zip(r["ops"], m.model.ops):
            cat, units = op_work(op, m.model.tensors, "cortex-m4")
            c, u = sums.get(cat, (0, 0))
            sums[cat] = (c + o["cycles"], u + units)
    assert costs == {cat: round(c / u, 3) for cat, (c, u) in sums.items()}
