"""An external int8 fully connected kernel with CMSIS-NN's calling convention, priced beside tml_fc_s8.

    python native/tools/external_fc.py --print-linker-script > link.ld
    python native/tools/external_fc.py --elf fc-m4.elf --cpu cortex-m4 [--opt -O2] [--json out.json]

Takes an ELF built elsewhere (this repository neither fetches nor builds CMSIS-NN; docs/benchmarks.md,
"CMSIS-NN, measured the same way", names the sources and the compiler command) that exports
`arm_fully_connected_s8` with CMSIS-NN's public signature and structs (`cmsis_nn_context`,
`cmsis_nn_fc_params`, `cmsis_nn_per_tensor_quant_params`, `cmsis_nn_dims`: int32 fields in
the order CMSIS-NN's arm_nn_types.h declares them), linked at crossrun's memory map (the script
`--print-linker-script` prints). Each layer runs once on the external kernel and once on
tinyml's `tml_fc_s8` (built here by crossrun, at --opt), both priced by cycles.py as `make bench`
prices one whole call, both outputs checked byte-equal to the numpy reference; a difference
stops the run (Mismatch).

Layers: `make bench`'s table shapes (bench.SHAPES, its random layers) and, when
../shared/models is there, AD01's ten layers with the model's own weights, TFLite's bias and
each layer's input zero point (input_offset = -zero point, as TFLite Micro passes it; tinyml
gets the same layer with that offset folded into its bias), on the first window of the real
recording, each layer fed the previous layer's output.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "host"))

import crossrun  # noqa: E402
from cycles import counter_for  # noqa: E402

SYMBOL = "arm_fully_connected_s8"
SHARED_MODELS = ROOT.parent / "shared" / "models"


class Mismatch(RuntimeError):
    pass


@dataclass
class Case:
    """One layer as both kernels take it: the .tmdl layer (input offset folded into its bias)
    and the input zero point, from which the external kernel's raw bias is recovered."""
    name: str
    layer: object           # tinyml_host.tmdl.Layer, per-tensor scale
    input_zp: int
    x: np.ndarray

    def raw_bias(self) -> np.ndarray:
        w = self.layer.weights.astype(np.int64)
        bias = self.layer.bias.astype(np.int64) + self.input_zp * w.sum(axis=1)
        if bias.min() < -2**31 or bias.max() >= 2**31:
            raise ValueError(f"{self.name}: the bias without the folded input offset overflows int32")
        return bias.astype(np.int32)


class External:
    """The external ELF in its own emulated CPU, with a cycle counter."""

    def __init__(self, elf: Path, cpu: str, symbol: str = SYMBOL):
        self.machine = crossrun.Machine(elf, cpu)
        self.machine.symbol(symbol)     # KeyError now rather than at the first call
        self.symbol = symbol
        self.counter = counter_for(self.machine)
        self.code_bytes = self.machine.elf.code_bytes()

    def run(self, case: Case) -> tuple[int, np.ndarray, int, int]:
        """(status, output, instructions, cycles) of one whole call."""
        m, layer = self.machine, case.layer
        n_out, n_in = layer.weights.shape
        if len(layer.multiplier) != 1:
            raise ValueError(f"{case.name}: {SYMBOL} takes one (per-tensor) multiplier")
        m.reset_heap()
        ctx = m.put(struct.pack("<Ii", 0, 0))      # no buffer: only CMSIS-NN's Helium path reads one
        fc_params = m.put(struct.pack("<5i", -case.input_zp, 0, layer.output_zp, layer.act_min, layer.act_max))
        quant = m.put(struct.pack("<2i", int(layer.multiplier[0]), int(layer.shift[0])))
        input_dims = m.put(struct.pack("<4i", 1, 1, 1, n_in))
        filter_dims = m.put(struct.pack("<4i", n_in, 1, 1, n_out))   # n: the accumulation depth
        bias_dims = m.put(struct.pack("<4i", 1, 1, 1, n_out))
        output_dims = m.put(struct.pack("<4i", 1, 1, 1, n_out))
        x = m.put(np.ascontiguousarray(case.x, np.int8).tobytes())
        w = m.put(np.ascontiguousarray(layer.weights, np.int8).tobytes())     # row-major [n_out, n_in]
        bias = m.put(np.ascontiguousarray(case.raw_bias(), "<i4").tobytes())
        guard = bytes(range(0xA0, 0xB0))
        out = m.put(bytes(n_out) + guard)
        status, instructions, cycles = self.counter.measure(lambda: m.call(
            self.symbol, ctx, fc_params, quant, input_dims, x, filter_dims, w, bias_dims, bias, output_dims, out))
        raw = m.read(out, n_out + len(guard))
        if raw[n_out:] != guard:
            raise Mismatch(f"{case.name}: {self.symbol} wrote past the end of its output")
        return status, np.frombuffer(raw[:n_out], np.int8).copy(), instructions, cycles


def bench_cases() -> list[Case]:
    import bench

    cases = []
    for n_in, n_out in bench.SHAPES:
        layer, x = bench.bench_layer(n_in, n_out)
        cases.append(Case(f"{n_in}x{n_out}", layer, 0, x))
    return cases


def ad01_cases(models_dir: Path = SHARED_MODELS) -> list[Case]:
    """AD01's layers chained on the recording's first window; [] without ../shared/models."""
    from tinyml_host import export, reference
    from tinyml_host.ad01_demo import AD01_TFLITE, BANDS, RECORDING, windows_of

    if not (models_dir / AD01_TFLITE).exists() or not (models_dir / RECORDING).exists():
        return []
    model = export.convert((models_dir / AD01_TFLITE).read_bytes())
    recording = np.fromfile(models_dir / RECORDING, np.float32).reshape(-1, BANDS)
    x = reference.quantize(windows_of(recording)[:1], model.input_scale, model.input_zp)[0]
    cases, zp = [], model.input_zp
    for k, layer in enumerate(model.layers):
        n_out, n_in = layer.weights.shape
        cases.append(Case(f"AD01 layer {k + 1} ({n_in}x{n_out})", layer, zp, x))
        x = reference.fully_connected(x.reshape(1, -1), layer, "tflm").reshape(-1)
        zp = layer.output_zp
    return cases


def compare(external: External, cases: list[Case], build_dir: Path, opt: str = "-O2") -> list[dict]:
    """Both kernels on every case; Mismatch when an output differs from the numpy reference."""
    from tinyml_host.reference import fully_connected

    cpu = external.machine.cpu.name
    tiny = crossrun.Machine(crossrun.build(cpu, build_dir, opt=opt), cpu)
    tiny_counter = counter_for(tiny)
    rows = []
    for case in cases:
        expected = fully_connected(case.x.reshape(1, -1), case.layer, "tflm").reshape(-1)
        status, out, ext_instructions, ext_cycles = external.run(case)
        if status != 0 or not np.array_equal(out, expected):
            raise Mismatch(f"{cpu} {case.name}: {external.symbol} returned {status}, output "
                           f"{'equal to' if np.array_equal(out, expected) else 'differs from'} the reference")
        (t_status, t_out), t_instructions, t_cycles = tiny_counter.measure(
            lambda: tiny.fc("tml_fc_s8", case.layer, case.x, "tflm"))
        if t_status != 0 or not np.array_equal(t_out, expected):
            raise Mismatch(f"{cpu} {case.name}: tml_fc_s8 returned {t_status} or a wrong output")
        n_out, n_in = case.layer.weights.shape
        rows.append({"cpu": cpu, "opt": opt, "case": case.name, "shape": f"{n_in}x{n_out}", "macs": n_in * n_out,
                     "input_zp": case.input_zp, "external_cycles": ext_cycles, "tinyml_cycles": t_cycles,
                     "external_instructions": ext_instructions, "tinyml_instructions": t_instructions})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elf", type=Path, help="the external kernel, built for --cpu")
    ap.add_argument("--cpu", choices=list(crossrun.CPUS), default="cortex-m4")
    ap.add_argument("--opt", default="-O2", help="tinyml's build (give the external one's level)")
    ap.add_argument("--symbol", default=SYMBOL)
    ap.add_argument("--models", type=Path, default=SHARED_MODELS, help="where ad01_int8.tflite is")
    ap.add_argument("--json", type=Path, help="write the rows here")
    ap.add_argument("--print-linker-script", action="store_true", help="the memory map the ELF must be linked at")
    args = ap.parse_args(argv)
    if args.print_linker_script:
        print(crossrun._linker_script())
        return 0
    if args.elf is None:
        ap.error("--elf is required")
    external = External(args.elf, args.cpu, args.symbol)
    ad01 = ad01_cases(args.models)
    if not ad01:
        print(f"AD01 left out: ad01_int8.tflite or the recording is not in {args.models}")
    try:
        rows = compare(external, bench_cases() + ad01, ROOT / "out" / "external_fc", args.opt)
    except Mismatch as e:
        print(f"wrong result: {e}", file=sys.stderr)
        return 1
    tiny_code = crossrun.read_elf(crossrun.build(args.cpu, ROOT / "out" / "external_fc", opt=args.opt,
                                                 exports=("tml_fc_s8",),
                                                 sources=[crossrun.CORE / s for s in crossrun.CORE_SOURCES])).code_bytes()
    print(f"{args.cpu} {args.opt}, cycles/MAC: {args.symbol} (code {external.code_bytes} B) / "
          f"tml_fc_s8 (code {tiny_code} B)")
    for r in rows:
        print(f"  {r['case']:>24}  {r['external_cycles'] / r['macs']:7.2f} / {r['tinyml_cycles'] / r['macs']:6.2f}"
              f"  {r['external_cycles'] / r['tinyml_cycles']:.2f}x")
    ad01_rows = [r for r in rows if r["case"].startswith("AD01")]
    if ad01_rows:
        ext, tiny = (sum(r[k] for r in ad01_rows) for k in ("external_cycles", "tinyml_cycles"))
        macs = sum(r["macs"] for r in ad01_rows)
        print(f"  AD01, whole model: {ext:,} / {tiny:,} cycles ({ext / macs:.2f} / {tiny / macs:.2f} per MAC), "
              f"{ext / tiny:.3f}x")
    if args.json:
        args.json.write_text(json.dumps({"cpu": args.cpu, "opt": args.opt, "external_code_bytes": external.code_bytes,
                                         "tinyml_code_bytes": tiny_code, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
