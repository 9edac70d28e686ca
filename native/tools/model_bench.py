"""Whole models under the cycle model: every op of a .tmdl graph through native/core's kernels per core.

    python native/tools/model_bench.py [--cpu cortex-m4 ...] [--external cortex-m4=cmsisnn-m4.elf ...]
                                       [--models ../shared/models] [--json out/bench/models.json]

Each MLPerf Tiny model found in ../shared/models (KWS, IC, VWW, streaming wake word, AD01) is
exported as `tinyml export` does (export.convert), its first golden input (or a seeded random
one) run through the host reference (reference.run_all) for every tensor's values, and then each
op is run once on the emulated core (crossrun.Machine: tml_fc_s8, tml_conv_s8, tml_dwconv_s8,
tml_avgpool_s8, tml_maxpool_s8, tml_add_s8, tml_softmax_s8), fed the reference's values for its
inputs, its output checked byte-equal to the reference's, its whole call priced by cycles.py.
A model's cycles are the sum over its ops (RESHAPE is an alias in the format: no op, no cycles).

With --external CPU=ELF, the same ops also run through an ELF with CMSIS-NN's calling convention
(external_ops.py), each output checked against the same reference, priced by the same model.

Cache: a measurement is stored per (implementation, core, build, op shape) in
out/bench/model_ops_cache.json, and for tinyml per op's constants too (its convolutions skip dead
channels: the cycles depend on the weights), so a rerun costs nothing and CMSIS-NN's repeated
layers (VWW's five 6x6x128 blocks) are measured once; the build is the hash of native/core's sources and flags (tinyml) or of the
ELF (external). A cached op's output was checked when it was measured, on that layer's data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "host"))

import crossrun  # noqa: E402
from cycles import counter_for  # noqa: E402

from tinyml_host import tmdl  # noqa: E402

SHARED_MODELS = ROOT.parent / "shared" / "models"
# (name, file): MLPerf Tiny's models as ../shared/models/README.md lists them
MLPERF_MODELS = [("KWS", "kws_ref_model.tflite"), ("IC", "pretrainedResnet_quant.tflite"),
                 ("VWW", "vww_96_int8.tflite"), ("StrWW", "str_ww_ref_model.tflite"), ("AD01", "ad01_int8.tflite")]
CACHE = ROOT / "out" / "bench" / "model_ops_cache.json"
CPUS = ["cortex-m4", "cortex-m0plus", "cortex-m33", "rv32imac"]
SHIPPED_OP_COSTS = ROOT / "host" / "tinyml_host" / "data" / "op_costs.json"


class Mismatch(RuntimeError):
    pass


def macs(op: tmdl.Op, tensors: list) -> int:
    """Multiply-accumulates of a weighted op over its whole filter (padding included); 0 otherwise."""
    out = tensors[op.output]
    if op.kind == tmdl.OP_FULLY_CONNECTED:
        return int(op.weights.size)
    if op.kind == tmdl.OP_CONV_2D:
        return out.shape[0] * out.shape[1] * int(op.weights.size)
    if op.kind == tmdl.OP_DEPTHWISE_CONV_2D:
        return out.size * op.filter[0] * op.filter[1]
    return 0


def describe(op: tmdl.Op, tensors: list) -> str:
    """A short name of the op's shape, e.g. 'CONV_2D 49x10x1 -> 25x5x64 10x4/2'."""
    src, out = tensors[op.inputs[0]], tensors[op.output]
    text = f"{op.name} {'x'.join(map(str, src.shape))} -> {'x'.join(map(str, out.shape))}"
    if op.kind in tmdl.WINDOW_OPS:
        text += f" {op.filter[0]}x{op.filter[1]}/{op.stride[0]}"
    return text


def shape_key(op: tmdl.Op, tensors: list) -> str:
    """What a kernel's cycles depend on besides the data: the op's shapes and parameters."""
    src, out = tensors[op.inputs[0]], tensors[op.output]
    return repr((op.kind, src.shape, out.shape, op.filter, op.stride, op.padding, op.channels, op.act_min,
                 op.act_max, src.zero_point != 0))


def data_key(op: tmdl.Op) -> str:
    """What else tinyml's cycles depend on: its weighted ops skip rows of all-zero weights (dead
    channels, conv_s8.c), so two layers of one shape cost the same only with the same constants."""
    if op.weights is None:
        return ""
    h = hashlib.sha256()
    for a in (op.weights, op.bias, op.multiplier, op.shift):
        h.update(np.ascontiguousarray(a).tobytes())
    return "|" + h.hexdigest()[:16]


def _rounding(op: tmdl.Op, model_rounding: str) -> int:
    from tinyml_host.reference import op_rounding

    return 1 if op_rounding(op.kind, model_rounding) == "litert" else 0


def tinyml_call(machine, op: tmdl.Op, tensors: list, x: np.ndarray, x2, rounding: str):
    """A closure running op through native/core's kernel on `machine` -> (status, output)."""
    src, out = tensors[op.inputs[0]], tensors[op.output]
    (ih, iw, ic), (oh, ow, oc) = src.shape, out.shape
    r = _rounding(op, rounding)
    x = np.ascontiguousarray(x, np.int8).reshape(-1)
    if op.kind == tmdl.OP_FULLY_CONNECTED:
        layer = tmdl.Layer(op.weights, op.bias, op.multiplier, op.shift, op.act_min, op.act_max, out.zero_point)
        return lambda: machine.fc("tml_fc_s8", layer, x, "litert" if r else "tflm")
    if op.kind in (tmdl.OP_CONV_2D, tmdl.OP_DEPTHWISE_CONV_2D):
        (fh, fw), (sh, sw), (pt, pl) = op.filter, op.stride, op.padding
        params = (ih, iw, ic, oh, ow, oc, fh, fw, sh, sw, pt, pl, src.zero_point, op.channels, op.act_min,
                  op.act_max, out.zero_point, r)
        depthwise = op.kind == tmdl.OP_DEPTHWISE_CONV_2D
        weights = np.frombuffer(op.weights.tobytes() if depthwise else tmdl.interleave(op.weights), np.int8)
        inputs = [x, weights, np.asarray(op.bias, np.int32), np.asarray(op.multiplier, np.int32),
                  np.asarray(op.shift, np.int8)]
        if depthwise:
            return lambda: machine.kernel("tml_dwconv_s8", params, inputs, out.size)
        # tml_conv_scratch_bytes: two patches as int16, K rounded up to 4, and 4 bytes to align them
        scratch = 4 * ((fh * fw * ic + 3) & ~3) + 4
        return lambda: machine.kernel("tml_conv_s8", params, inputs, out.size, scratch=scratch)
    if op.kind in (tmdl.OP_AVERAGE_POOL_2D, tmdl.OP_MAX_POOL_2D):
        (fh, fw), (sh, sw), (pt, pl) = op.filter, op.stride, op.padding
        params = (ih, iw, ic, oh, ow, fh, fw, sh, sw, pt, pl, op.act_min, op.act_max)
        name = "tml_avgpool_s8" if op.kind == tmdl.OP_AVERAGE_POOL_2D else "tml_maxpool_s8"
        return lambda: machine.kernel(name, params, [x], out.size)
    if op.kind == tmdl.OP_ADD:
        m1, s1, m2, s2, mo, so, left = (int(v) for v in op.params[:7])
        zp2 = tensors[op.inputs[1]].zero_point
        params = (out.size, left, -src.zero_point, m1, s1, -zp2, m2, s2, mo, so, out.zero_point, op.act_min,
                  op.act_max, r)
        return lambda: machine.kernel("tml_add_s8", params, [x, np.ascontiguousarray(x2, np.int8).reshape(-1)],
                                      out.size)
    if op.kind == tmdl.OP_SOFTMAX:
        mult, left, diff_min = (int(v) for v in op.params[:3])
        return lambda: machine.kernel("tml_softmax_s8", (out.size // oc, oc, mult, left, diff_min), [x], out.size)
    raise ValueError(f"no kernel for {op.name}")


def core_hash(cpu: str, opt: str) -> str:
    h = hashlib.sha256(repr((crossrun.CPUS[cpu].cflags, crossrun.CFLAGS, opt)).encode())
    for p in sorted(crossrun.CORE.glob("*.[ch]")):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class Cache:
    def __init__(self, path: Path | None):
        self.path = path
        self.data = json.loads(path.read_text()) if path and path.exists() else {}

    def get(self, key: str):
        return self.data.get(key)

    def put(self, key: str, value: dict) -> None:
        self.data[key] = value
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=0, sort_keys=True))
            tmp.replace(self.path)


@dataclass
class Model:
    name: str
    model: tmdl.TmdlModel
    values: list          # every tensor's int8 values (reference.run_all, batch 1)
    tmdl_bytes: int


def load_model(name: str, tflite: Path) -> Model:
    from tinyml_host import export, reference

    data = Path(tflite).read_bytes()
    model = export.convert(data)
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=model.input_size).astype(np.int8)
    values = [v[0] for v in reference.run_all(model, x.reshape(1, -1))]
    export_size = len(tmdl.encode(model))
    return Model(name, model, values, export_size)


def synthetic_models() -> list[Model]:
    """Kinds no MLPerf Tiny model has, priced so that estimate's table has a figure for them:
    MAX_POOL_2D 2x2/2 on 24x24x16 (seeded random values)."""
    from tinyml_host import reference

    tensors = [tmdl.Tensor((24, 24, 16), -3), tmdl.Tensor((12, 12, 16), -3)]
    ops = [tmdl.Op(tmdl.OP_MAX_POOL_2D, (0,), 1, filter=(2, 2), stride=(2, 2))]
    model = tmdl.TmdlModel(ops, tensors, 0.05, -3, 0.05, -3)
    model.arena_bytes = tmdl.plan_arena(ops, tensors)
    x = np.random.default_rng(1).integers(-128, 128, size=(1, model.input_size)).astype(np.int8)
    return [Model("max pool 2x2/2", model, [v[0] for v in reference.run_all(model, x)], len(tmdl.encode(model)))]


def op_costs(results: list[dict]) -> dict:
    """Cycles per unit (estimate.op_work: MACs, pool taps, elements) by cpu and op category, over
    every measured op: what `tinyml estimate` prices a graph with (data/op_costs.json)."""
    sums: dict = {}
    for r in results:
        for row in r["ops"]:
            c, u = sums.setdefault(r["cpu"], {}).get(row["category"], (0, 0))
            sums[r["cpu"]][row["category"]] = (c + row["cycles"], u + row["units"])
    return {cpu: {cat: round(c / u, 3) for cat, (c, u) in sorted(cats.items()) if u}
            for cpu, cats in sorted(sums.items())}


def _counter(machine):
    """One cycle counter per machine: each counter adds a code hook to the emulator for good, so a
    counter per op would run every later op under all of the earlier ops' hooks too."""
    if getattr(machine, "_model_bench_counter", None) is None:
        machine._model_bench_counter = counter_for(machine)
    return machine._model_bench_counter


def price(entry: Model, cpu: str, machine, build: str, cache: Cache, impl: str = "tinyml",
          external=None) -> list[dict]:
    """One row per op: {"op", "kind", "macs", "cycles", "cached"}; Mismatch when an output differs
    from the reference. impl "tinyml" runs native/core on `machine`; anything else `external`."""
    from tinyml_host.estimate import op_work

    rows = []
    model, values = entry.model, entry.values
    for i, op in enumerate(model.ops):
        key = f"{impl}|{cpu}|{build}|{shape_key(op, model.tensors)}" + (data_key(op) if impl == "tinyml" else "")
        hit = cache.get(key)
        x = values[op.inputs[0]]
        x2 = values[op.inputs[1]] if len(op.inputs) > 1 else None
        want = np.asarray(values[op.output], np.int8).reshape(-1)
        if hit is None:
            if impl == "tinyml":
                (status, got), instructions, cycles = _counter(machine).measure(
                    tinyml_call(machine, op, model.tensors, x, x2, model.rounding))
            else:
                status, got, instructions, cycles = external.run(op, model.tensors, np.asarray(x).reshape(-1),
                                                                 None if x2 is None else np.asarray(x2).reshape(-1))
            if status != 0 or not np.array_equal(got, want):
                bad = np.flatnonzero(got != want) if status == 0 else []
                raise Mismatch(f"{entry.name} op {i} ({describe(op, model.tensors)}) on {cpu}, {impl}: status {status}, "
                               f"{len(bad)} of {want.size} values differ from the reference")
            hit = {"cycles": int(cycles), "instructions": int(instructions)}
            cache.put(key, hit)
            cached = False
        else:
            cached = True
        category, units = op_work(op, model.tensors, cpu)
        rows.append({"op": i, "kind": op.name, "layer": describe(op, model.tensors), "macs": macs(op, model.tensors),
                     "category": category, "units": units, "cycles": hit["cycles"], "cached": cached})
    return rows


def run(models: list[Model], cpus: list[str], externals: dict[str, Path], build_dir: Path, cache: Cache,
        opt: str = "-O2", log=print) -> list[dict]:
    """Per model and cpu: {"model", "cpu", "tinyml_cycles", "external_cycles" (or None), "ops": [...]}."""
    from external_ops import ExternalOps

    results = []
    for cpu in cpus:
        machine = crossrun.Machine(crossrun.build(cpu, build_dir, opt=opt), cpu, timeout=600.0)
        build = core_hash(cpu, opt)
        ext = ExternalOps(externals[cpu], cpu) if cpu in externals else None
        for entry in models:
            t0 = time.time()
            ops = price(entry, cpu, machine, build, cache)
            if ext is not None:
                ext_ops = price(entry, cpu, None, file_hash(externals[cpu]), cache, "external", ext)
                for row, e in zip(ops, ext_ops):
                    row["external_cycles"] = e["cycles"]
            total = sum(r["cycles"] for r in ops)
            ext_total = sum(r["external_cycles"] for r in ops) if ext is not None else None
            results.append({"model": entry.name, "cpu": cpu, "opt": opt, "tinyml_cycles": total,
                            "external_cycles": ext_total, "macs": sum(r["macs"] for r in ops),
                            "tmdl_bytes": entry.tmdl_bytes, "arena_bytes": entry.model.arena_bytes, "ops": ops,
                            "external_code_bytes": ext.code_bytes if ext else None})
            log(f"{cpu} {entry.name}: {total:,} cycles" + (f", external {ext_total:,} ({ext_total / total:.2f}x)"
                                                          if ext_total else "") + f" [{time.time() - t0:.0f} s]")
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu", action="append", choices=CPUS, help="default: every core whose compiler is here")
    ap.add_argument("--model", action="append", help="names from MLPERF_MODELS (default: all found)")
    ap.add_argument("--models", type=Path, default=SHARED_MODELS)
    ap.add_argument("--external", action="append", default=[], metavar="CPU=ELF",
                    help="an ELF with CMSIS-NN's s8 calling convention for that core")
    ap.add_argument("--opt", default="-O2")
    ap.add_argument("--json", type=Path, default=ROOT / "out" / "bench" / "models.json")
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args(argv)
    externals = {}
    for item in args.external:
        cpu, _, elf = item.partition("=")
        if cpu not in CPUS or not elf:
            ap.error(f"--external {item}: give CPU=ELF with CPU one of {', '.join(CPUS)}")
        externals[cpu] = Path(elf)
    wanted = set(args.model or [n for n, _ in MLPERF_MODELS])
    found = [(n, args.models / f) for n, f in MLPERF_MODELS if n in wanted and (args.models / f).exists()]
    for n, f in MLPERF_MODELS:
        if n in wanted and not (args.models / f).exists():
            print(f"{n} left out: {args.models / f} is not there")
    if not found:
        return 1
    models = [load_model(n, p) for n, p in found] + synthetic_models()
    cpus = args.cpu or CPUS
    results = run(models, cpus, externals, ROOT / "out" / "bench" / "build", Cache(None if args.no_cache else CACHE),
                  args.opt)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.json.read_text()) if args.json.exists() else []
    keep = [r for r in old if (r["model"], r["cpu"]) not in {(n["model"], n["cpu"]) for n in results}]
    everything = keep + results
    args.json.write_text(json.dumps(everything, indent=1))
    print(f"wrote {args.json}")
    if args.opt == "-O2" and args.json == ROOT / "out" / "bench" / "models.json":
        # the table `tinyml estimate` prices graphs with, shipped like kernel_costs.json
        SHIPPED_OP_COSTS.write_text(json.dumps({
            "source": "native/tools/model_bench.py: MLPerf Tiny's layers under cycles.py, GCC -O2, "
                      "native/core at " + core_hash("cortex-m4", args.opt) + " (cortex-m4 build hash)",
            "units": "cycles per MAC (convolutions, fully connected), per window tap (pools), per element "
                     "(ADD, SOFTMAX)",
            "cpus": op_costs(everything)}, indent=1) + "\n")
        print(f"updated {SHIPPED_OP_COSTS.relative_to(ROOT)} (commit it with a kernel change)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
