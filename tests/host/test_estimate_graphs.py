"""`tinyml estimate` on graphs (format 4): latency from the per-op cycle figures, RAM from the
device's own formula run on the host, verdicts per board. A small CNN from the real converter
(tests/models.py); the expected figures are computed here, op by op, from the file's shapes."""

import dataclasses
import sys
from pathlib import Path

import pytest

import models
from tinyml_host import boards, device_ram, estimate, export, tmdl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "device"))
from mpy import lines_with, run  # noqa: E402


@pytest.fixture(scope="module")
def cnn():
    model = export.convert(models.random_cnn_tflite(4))
    return model, tmdl.encode(model)


def _units(model):
    """(category, units) per op, counted here: MACs over the whole filter, pool taps, elements."""
    out = []
    for op in model.ops:
        (ih, iw, ic), (oh, ow, oc) = model.tensors[op.inputs[0]].shape, model.tensors[op.output].shape
        fh, fw = op.filter
        if op.kind == tmdl.OP_CONV_2D:
            out.append(("CONV_2D 1x1" if (fh, fw) == (1, 1) else "CONV_2D", oh * ow * oc * fh * fw * ic))
        elif op.kind in (tmdl.OP_DEPTHWISE_CONV_2D, tmdl.OP_AVERAGE_POOL_2D, tmdl.OP_MAX_POOL_2D):
            out.append((op.name, oh * ow * oc * fh * fw))
        elif op.kind == tmdl.OP_FULLY_CONNECTED:
            out.append(("FULLY_CONNECTED", ih * iw * ic * oh * ow * oc))
        else:
            out.append((op.name, oh * ow * oc))
    return out


def test_graph_latency_is_units_times_cycles_per_unit(cnn):
    model, data = cnn
    op_costs = {"cortex-m4": {"CONV_2D": 4.0, "CONV_2D 1x1": 3.0, "DEPTHWISE_CONV_2D": 15.0, "AVERAGE_POOL_2D": 13.0,
                              "MAX_POOL_2D": 9.0, "ADD": 11.0, "SOFTMAX": 250.0}}
    costs = [{"cpu": "cortex-m4", "shape": "64x64", "kernel": "tinyml", "cycles_per_mac": 2.5, "code_bytes": 1}]
    rows = estimate.estimate(model, len(data), {"micropython": 0, "circuitpython": 0}, costs, op_costs=op_costs,
                             tmdl_data=data)
    nano = next(r for r in rows if r["board"] == "nano33_ble_sense")
    per = dict(op_costs["cortex-m4"], FULLY_CONNECTED=2.5)
    cycles = sum(n * per[cat] for cat, n in _units(model))
    assert nano["native_us"] == pytest.approx(cycles / 64)
    assert nano["macs"] == sum(n for cat, n in _units(model) if cat in ("CONV_2D", "CONV_2D 1x1", "DEPTHWISE_CONV_2D",
                                                                         "FULLY_CONNECTED"))
    # a core without figures gets no latency, and says why
    pico = next(r for r in rows if r["board"] == "pico")
    assert pico["native_us"] is None and "no cycle figure" in pico["native_basis"]


def test_dead_rows_cost_no_macs_where_the_kernel_skips_them(cnn):
    """conv_s8.c's arm-dsp path stores a dead row's constant without its MACs (rows of all-zero
    weights, as VWW's pointwise layers have): on the M4 and M33 a CONV_2D's work is its live
    rows', elsewhere every row's."""
    model, _ = cnn
    op = next(o for o in model.ops if o.kind == tmdl.OP_CONV_2D)
    (oh, ow, oc), k = model.tensors[op.output].shape, op.weights[0].size
    assert estimate.op_work(op, model.tensors, "cortex-m4")[1] == oh * ow * oc * k
    weights = op.weights.copy()
    weights[[0, 2]] = 0
    op = dataclasses.replace(op, weights=weights)   # the module's model left as it is
    for cpu in ("cortex-m4", "cortex-m33"):
        assert estimate.op_work(op, model.tensors, cpu)[1] == oh * ow * (oc - 2) * k
    for cpu in ("cortex-m0plus", "rv32imac", None):
        assert estimate.op_work(op, model.tensors, cpu)[1] == oh * ow * oc * k


def test_shipped_op_costs_price_the_mlperf_kinds_on_the_cortex_m4():
    shipped = estimate.load_op_costs()
    for cpu in ("cortex-m4",):   # the other cores: not yet run through model_bench (docs/benchmarks.md)
        assert {"CONV_2D", "CONV_2D 1x1", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "SOFTMAX"} <= set(shipped[cpu])


def test_ram_is_the_devices_own_figure(cnn, tmp_path):
    """device_ram runs model.py's _needs on the host: equal to tinyml.ram_needed in the real
    micropython binary (the unix port: 8-byte words, uctypes present)."""
    model, data = cnn
    (tmp_path / "m.tmdl").write_bytes(data)
    out = run("import tinyml\nfor b in tinyml.available_backends():\n"
              "    n = tinyml.ram_needed('m.tmdl', b)\n"
              "    print('RAM', b, n['filesystem'], n['romfs'], n['stream'], n['buffers'])", cwd=tmp_path)
    seen = 0
    for line in lines_with("RAM", out):
        backend, *figures = line.split()
        n = device_ram.ram_needed(data, backend, word=8)
        assert [n["filesystem"], n["romfs"], n["stream"], n["buffers"]] == [int(v) for v in figures]
        seen += 1
    assert seen >= 2
    # on a 32-bit board the object words are half as large, the buffers the same
    n32 = device_ram.ram_needed(data, "viper")
    assert n32["buffers"] == device_ram.ram_needed(data, "viper", word=8)["buffers"] - 4 * model.output_size
    assert n32["romfs"] < device_ram.ram_needed(data, "viper", word=8)["romfs"]


def test_verdicts_use_the_device_figures(cnn):
    model, data = cnn
    facts = boards.load()
    rows = estimate.estimate(model, len(data), {"micropython": 1000, "circuitpython": 2000}, [], op_costs={},
                             tmdl_data=data)
    for r in rows:
        b = facts[r["board"]]
        micropython = "micropython" in b["firmware"]
        n = device_ram.ram_needed(data, "native" if micropython else "python", uctypes=micropython)
        assert (r["ram_bytes"], r["ram_romfs_bytes"], r["ram_streamed_bytes"]) == (
            n["filesystem"], n["romfs"], n["stream"])
        assert r["verdict"] == estimate.verdict(b, n["filesystem"], n["romfs"], n["stream"], len(data))
