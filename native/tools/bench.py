"""`make bench`: cycles per multiply-accumulate of the int8 fully connected kernels on Cortex-M and RISC-V.

For each CPU (cortex-m0plus, cortex-m4, cortex-m33, rv32imac as on the RP2350) and layer shape, native/core is
cross-compiled (arm-none-eabi-gcc or riscv64-unknown-elf-gcc, -O2 unless --opt), run once under Unicorn per kernel, and
every executed instruction is priced with the core's documented timings (cycles.py;
docs/benchmarks.md). cycles/MAC = cycles of one whole call (argument checks,
requantization, clamping and the stores included) / (n_in * n_out). Shapes are
"n_in x n_out": 256x64 is 256 inputs and 64 outputs. code_bytes is what a firmware links for
that kernel alone: the kernel, tml_fc_check, tml_requantize and the libgcc helpers they use.

Writes out/bench/kernels.json (and out/bench/opt_levels.json, out/bench/ad01.json: AD01's
ten layers at their own shapes, summed per core) and prints the tables.
Every measured call is also checked bit-exact against the numpy reference.

Xtensa (xtensa-lx106, the ESP8266's core, under QEMU: xtensarun.py) is counted in executed
instructions per MAC, not priced in cycles (no public per-instruction timings): its own table
and out/bench/xtensa.json.

The viper backend on MicroPython's qemu port (viper_bench.py): run when TINYML_QEMU_FIRMWARE names
qemu-port firmware (docs/benchmarks.md, "Viper on the boards"), else skipped with the reason;
writes out/bench/viper_costs.json.

Everything goes to --out (out/bench); `tinyml estimate` prefers out/bench/kernels.json to the
table the package ships. --update-shipped (for the project's developers, after a kernel change)
also writes the tables the package ships, host/tinyml_host/data/kernel_costs.json and
viper_costs.json, when every row ran.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "host"))

import crossrun  # noqa: E402
from cycles import counter_for  # noqa: E402

SHAPES = [(16, 16), (64, 64), (256, 64), (1024, 64)]      # (n_in, n_out)
# MLPerf Tiny's anomaly detection autoencoder, ../shared/models/ad01_int8.tflite: ten dense layers
AD01_WIDTHS = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
KERNELS = {"tinyml": "tml_fc_s8", "reference": "tml_fc_s8_ref"}
CPUS = ["cortex-m4", "cortex-m0plus", "cortex-m33", "rv32imac"]
# the targets: (cpu, shape) -> max cycles/MAC for "tinyml"; and code bytes per architecture
TARGETS = {("cortex-m4", "256x64"): 1.5, ("cortex-m4", "16x16"): 4.0, ("cortex-m33", "256x64"): 1.5,
           ("cortex-m33", "16x16"): 4.0, ("cortex-m0plus", "256x64"): 6.0, ("rv32imac", "256x64"): 3.3}
CODE_TARGET = 4096
SHIPPED_COSTS = ROOT / "host" / "tinyml_host" / "data" / "kernel_costs.json"


def bench_layer(n_in: int, n_out: int, seed: int = 1):
    """A dense layer as the TFLite converter makes them: per-tensor scale, int32 bias."""
    from tinyml_host.reference import quantize_multiplier
    from tinyml_host.tmdl import Layer

    rng = np.random.default_rng(seed + 7919 * n_in + n_out)
    w = rng.integers(-127, 128, size=(n_out, n_in)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=n_out).astype(np.int32)
    m, s = quantize_multiplier(1.0 / (16.0 * n_in))
    layer = Layer(w, bias, np.array([m], np.int32), np.array([s], np.int8), -128, 127, -3)
    x = rng.integers(-128, 128, size=n_in).astype(np.int8)
    return layer, x


def code_bytes(cpu: str, kernel: str, build_dir: Path, opt: str) -> int:
    elf = crossrun.read_elf(crossrun.build(cpu, build_dir, opt=opt, exports=(kernel,),
                                       sources=[crossrun.CORE / s for s in crossrun.CORE_SOURCES]))
    return elf.code_bytes()


def measure(cpu: str, shapes, kernels, build_dir: Path, opt: str = "-O2") -> list[dict]:
    from tinyml_host.reference import fully_connected

    machine = crossrun.Machine(crossrun.build(cpu, build_dir, opt=opt), cpu)
    counter = counter_for(machine)
    rows = []
    for n_in, n_out in shapes:
        layer, x = bench_layer(n_in, n_out)
        expected = fully_connected(x.reshape(1, -1), layer, "tflm").reshape(-1)
        for label, kernel in kernels.items():
            (status, out), instructions, cycles = counter.measure(lambda: machine.fc(kernel, layer, x, "tflm"))
            if status != 0 or not np.array_equal(out, expected):
                raise SystemExit(f"{cpu} {kernel} {n_in}x{n_out}: wrong result (status {status})")
            macs = n_in * n_out
            rows.append({"cpu": cpu, "shape": f"{n_in}x{n_out}", "kernel": label, "cycles": cycles,
                         "cycles_per_mac": round(cycles / macs, 3),
                         "code_bytes": code_bytes(cpu, kernel, build_dir, opt),
                         "instructions_per_mac": round(instructions / macs, 3), "opt": opt})
    return rows


# Convolution-family layers at the shapes of MLPerf Tiny's KWS (DS-CNN, 49x10 MFCC input) and
# VWW (MobileNetV1 0.25 at 96x96; its first layer at half the resolution, to keep the emulation short):
# (label, depthwise, in_h, in_w, in_c, out_c, filter_h, filter_w, stride), SAME padding
WINDOW_SHAPES = [
    ("KWS conv 10x4/2", False, 49, 10, 1, 64, 10, 4, 2),
    ("KWS depthwise 3x3", True, 25, 5, 64, 64, 3, 3, 1),
    ("KWS pointwise 1x1", False, 25, 5, 64, 64, 1, 1, 1),
    ("VWW conv 3x3/2", False, 48, 48, 3, 8, 3, 3, 2),
    ("VWW depthwise 3x3/2", True, 24, 24, 16, 16, 3, 3, 2),
    ("VWW depthwise 3x3", True, 12, 12, 64, 64, 3, 3, 1),
    ("VWW pointwise 1x1", False, 6, 6, 128, 128, 1, 1, 1),
]


def window_layer(shape, per_channel: bool, seed: int = 3):
    """A conv or depthwise layer of one WINDOW_SHAPES row with converter-like quantization."""
    from tinyml_host.reference import quantize_multiplier

    sys.path.insert(0, str(ROOT / "tests" / "native"))
    import window_ops

    label, depthwise, in_h, in_w, in_c, out_c, fh, fw, stride = shape
    rng = np.random.default_rng(seed)
    out_h, pad_top = window_ops.window(rng, in_h, fh, stride, True)
    out_w, pad_left = window_ops.window(rng, in_w, fw, stride, True)
    n_q = out_c if per_channel else 1
    q = [quantize_multiplier(float(s)) for s in rng.uniform(0.5, 1.0, n_q) / (16.0 * fh * fw * (1 if depthwise else in_c))]
    params = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, filter_h=fh, filter_w=fw,
                  stride_h=stride, stride_w=stride, pad_top=pad_top, pad_left=pad_left, input_zp=-5, n_channels=n_q,
                  act_min=-128, act_max=127, output_zp=-3, rounding=0)
    weights = rng.integers(-127, 128, size=(fh, fw, in_c) if depthwise else (out_c, fh * fw * in_c)).astype(np.int8)
    layer = window_ops.Conv(params, weights, rng.integers(-5000, 5000, size=out_c), [m for m, _ in q],
                            [s for _, s in q], depthwise)
    return layer, rng.integers(-128, 128, size=(in_h, in_w, in_c)).astype(np.int8), out_h * out_w * out_c * fh * fw * (
        1 if depthwise else in_c)


def measure_window(cpu: str, build_dir: Path, opt: str = "-O2") -> list[dict]:
    """Cycles per MAC (MACs counted over the whole filter, padding included) of tml_conv_s8 and
    tml_dwconv_s8 at WINDOW_SHAPES, per-channel and per-tensor; each result checked against the
    host build of the reference (tests/native/test_window_ops_host.py ties that to TFLite Micro)."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests" / "native"))
    import harness
    import window_ops

    host = window_ops.load(harness.build(Path(tempfile.mkdtemp())))
    machine = crossrun.Machine(crossrun.build(cpu, build_dir, opt=opt), cpu)
    counter = counter_for(machine)
    rows = []
    for shape in WINDOW_SHAPES:
        for per_channel in (True, False):
            layer, x, macs = window_layer(shape, per_channel)
            name = "tml_dwconv_s8" if layer.depthwise else "tml_conv_s8"
            _, want = window_ops.run_conv(host, layer, x, name + "_ref")
            params, inputs, scratch = window_ops.conv_args(layer, x)
            (status, got), _, cycles = counter.measure(lambda: machine.kernel(
                name, params, inputs, layer.out_size(), scratch=None if layer.depthwise else scratch))
            if status != 0 or not np.array_equal(got, want):
                raise SystemExit(f"{cpu} {name} {shape[0]}: wrong result (status {status})")
            rows.append({"cpu": cpu, "layer": shape[0], "per_channel": per_channel, "macs": macs, "cycles": cycles,
                         "cycles_per_mac": round(cycles / macs, 3), "opt": opt})
    return rows


def window_section(console, args, cpus, build_dir: Path) -> None:
    from rich.table import Table

    rows = [r for cpu in cpus for r in measure_window(cpu, build_dir, args.opt)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "window_ops.json").write_text(json.dumps(rows, indent=1))
    by = {(r["cpu"], r["layer"], r["per_channel"]): r for r in rows}
    table = Table(title=f"int8 convolutions, cycles per MAC (per-channel / per-tensor scales), GCC {args.opt}")
    table.add_column("layer")
    table.add_column("MACs", justify="right")
    for cpu in cpus:
        table.add_column(cpu, justify="right")
    for shape in WINDOW_SHAPES:
        cells = [f"{by[(c, shape[0], True)]['cycles_per_mac']:.2f} / {by[(c, shape[0], False)]['cycles_per_mac']:.2f}"
                 for c in cpus]
        table.add_row(shape[0], f"{by[(cpus[0], shape[0], True)]['macs']:,}", *cells)
    console.print(table)


def measure_xtensa(shapes, kernels, build_dir: Path, opts=("-O2",)) -> list[dict]:
    """Instructions per MAC on xtensa-lx106 under QEMU: one run per optimization level."""
    import xtensarun
    from tinyml_host.reference import fully_connected

    rows = []
    for opt in opts:
        elf = xtensarun.build(build_dir / "xtensa", opt)
        cal = xtensarun.calibrate(elf)
        job, calls = xtensarun.Job(), []
        for n_in, n_out in shapes:
            layer, x = bench_layer(n_in, n_out)
            expected = fully_connected(x.reshape(1, -1), layer, "tflm").reshape(-1)
            calls += [(n_in, n_out, label, kernel, job.fc(kernel, layer, x, "tflm"), expected)
                      for label, kernel in kernels.items()]
        result = xtensarun.run(elf, job, icount=True)
        for n_in, n_out, label, kernel, h, expected in calls:
            status, out = result.fc(h)
            if status != 0 or not np.array_equal(out, expected):
                raise SystemExit(f"xtensa-lx106 {kernel} {n_in}x{n_out}: wrong result (status {status})")
            rows.append({"cpu": "xtensa-lx106", "shape": f"{n_in}x{n_out}", "kernel": label,
                         "instructions_per_mac": round(result.instructions(h, cal) / (n_in * n_out), 3),
                         "code_bytes": xtensarun.code_bytes(kernel, build_dir / "xtensa", opt), "opt": opt})
    return rows


def xtensa_section(console, args, build_dir: Path) -> None:
    from rich.table import Table
    import xtensarun

    try:
        xtensarun.require_tools()
    except xtensarun.ToolMissing as e:
        console.print(f"[yellow]skipped xtensa-lx106[/yellow], optional: {e}. Its table (instructions per MAC on "
                      "the ESP8266's core) is a figure of its own; no estimate uses it")
        return
    opts = ("-O2",) if args.no_opt_levels else ("-O2", "-O3", "-Os")
    rows = measure_xtensa(SHAPES, KERNELS, build_dir, opts)
    (args.out / "xtensa.json").write_text(json.dumps(rows, indent=1))
    by = {(r["shape"], r["kernel"], r["opt"]): r for r in rows}
    table = Table(title="xtensa-lx106 (QEMU): instructions/MAC (requantization included; not cycles), GCC -O2")
    for col in ("n_in x n_out", "tinyml", "reference", "ratio", "code B tinyml / ref", *opts[1:]):
        table.add_column(col, justify="right")
    for n_in, n_out in SHAPES:
        shape = f"{n_in}x{n_out}"
        t, ref = by[(shape, "tinyml", "-O2")], by[(shape, "reference", "-O2")]
        table.add_row(shape, f"{t['instructions_per_mac']:.2f}", f"{ref['instructions_per_mac']:.2f}",
                      f"{ref['instructions_per_mac'] / t['instructions_per_mac']:.1f}x",
                      f"{t['code_bytes']} / {ref['code_bytes']}",
                      *(f"{by[(shape, 'tinyml', o)]['instructions_per_mac']:.2f} ({by[(shape, 'tinyml', o)]['code_bytes']})"
                        for o in opts[1:]))
    console.print(table)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    ap.add_argument("--opt", default="-O2", help="GCC optimization level for the main table")
    ap.add_argument("--no-opt-levels", action="store_true", help="skip the -O2/-O3/-Os comparison")
    ap.add_argument("--conv-only", action="store_true", help="only the convolution table (WINDOW_SHAPES)")
    ap.add_argument("--update-shipped", action="store_true",
                    help="developers: also write the tables the package ships (host/tinyml_host/data), "
                         "to commit with a kernel change")
    args = ap.parse_args(argv)
    from rich.console import Console

    console = Console(width=max(Console().width, 110))
    cpus, skipped = available_cpus()
    for what, why in skipped:
        console.print(f"[yellow]skipped {what}[/yellow]: {why}; `tinyml estimate` prices {what} with the table "
                      "the package ships instead")
    build_dir = args.out / "build"
    if cpus and args.conv_only:
        window_section(console, args, cpus, build_dir)
        return 0
    if cpus:
        window_section(console, args, cpus, build_dir)
        unicorn_tables(console, args, cpus, build_dir)
    if args.update_shipped:
        # the table `tinyml estimate` ships with, for a checkout where `make bench` never ran
        if skipped or not cpus or args.opt != "-O2":
            console.print(f"[red]not updating {SHIPPED_COSTS.name}[/red]: it needs every CPU's row at -O2")
            return 1
        SHIPPED_COSTS.write_text((args.out / "kernels.json").read_text())
        console.print(f"updated {SHIPPED_COSTS} (commit it with the kernel change)")
    xtensa_section(console, args, build_dir)
    if not viper_section(console, args):
        return 1
    console.print(f"figures in {args.out}; cycle model: native/tools/cycles.py, docs/benchmarks.md")
    return 0


def viper_section(console, args) -> bool:
    """The viper backend on MicroPython's qemu port (viper_bench.py): skipped with the reason when
    qemu or TINYML_QEMU_FIRMWARE is missing; False when a run given firmware fails."""
    import viper_bench

    why = viper_bench.skip_reason()
    if why:
        console.print(f"[yellow]skipped viper (qemu port)[/yellow], optional: {why}. `tinyml estimate` prices "
                      "the viper backend with the table the package ships; this row only re-measures it")
        return True
    try:
        data = viper_bench.measure_all(args.out, update_shipped=args.update_shipped)
    except viper_bench.BenchError as e:
        console.print(f"[red]viper (qemu port) failed[/red]: {e}")
        return False
    viper_bench.print_tables(data)
    return True


def available_cpus() -> tuple[list[str], list[tuple[str, str]]]:
    """The Unicorn-run CPUs whose cross compiler is here, and (row, reason) for the others."""
    try:
        crossrun._unicorn()
        import capstone  # noqa: F401
    except (crossrun.ToolMissing, ImportError) as e:
        return [], [(", ".join(CPUS), f"{e} (unicorn and capstone come with `make setup`)")]
    cpus, skipped = [], []
    for cpu in CPUS:
        try:
            crossrun.gcc(cpu)
            cpus.append(cpu)
        except crossrun.ToolMissing as e:
            skipped.append((cpu, str(e)))
    return cpus, skipped


def unicorn_tables(console, args, cpus, build_dir: Path) -> None:
    from rich.table import Table

    t0 = time.time()
    rows = [r for cpu in cpus for r in measure(cpu, SHAPES, KERNELS, build_dir, args.opt)]
    ad01_shapes = sorted(set(zip(AD01_WIDTHS, AD01_WIDTHS[1:])) - set(SHAPES))
    ad01_rows = [r for cpu in cpus for r in measure(cpu, ad01_shapes, KERNELS, build_dir, args.opt)]
    args.out.mkdir(parents=True, exist_ok=True)
    # AD01's shapes too, so that `tinyml estimate` prices that model at its own shapes
    (args.out / "kernels.json").write_text(json.dumps(
        [{k: r[k] for k in ("cpu", "shape", "kernel", "cycles_per_mac", "code_bytes")} for r in rows + ad01_rows],
        indent=1))

    table = Table(title=f"int8 fully connected, cycles per MAC (requantization included), GCC {args.opt}")
    for col in ("cpu", "n_in x n_out", "tinyml", "reference", "speed-up", "target", "code B tinyml / ref"):
        table.add_column(col, justify="left" if col == "cpu" else "right")
    by = {(r["cpu"], r["shape"], r["kernel"]): r for r in rows}
    for cpu in cpus:
        for n_in, n_out in SHAPES:
            shape = f"{n_in}x{n_out}"
            t, ref = by[(cpu, shape, "tinyml")], by[(cpu, shape, "reference")]
            target = TARGETS.get((cpu, shape))
            mark = ""
            if target is not None:
                ok = t["cycles_per_mac"] <= target
                mark = f"<= {target} {'[green]met[/green]' if ok else '[red]missed[/red]'}"
            table.add_row(cpu, shape, f"{t['cycles_per_mac']:.2f}", f"{ref['cycles_per_mac']:.2f}",
                          f"{ref['cycles_per_mac'] / t['cycles_per_mac']:.1f}x", mark,
                          f"{t['code_bytes']} / {ref['code_bytes']}")
        table.add_section()
    console.print(table)
    for cpu in cpus:
        size = by[(cpu, "16x16", "tinyml")]["code_bytes"]
        ok = size <= CODE_TARGET
        console.print(f"{cpu}: tinyml kernel code {size} B (target <= {CODE_TARGET}: "
                      f"{'[green]met[/green]' if ok else '[red]missed[/red]'})")

    ad01_table(console, args, cpus, rows + ad01_rows)

    if not args.no_opt_levels:
        opt_rows = [r for cpu in cpus for opt in ("-O2", "-O3", "-Os")
                    for r in measure(cpu, [(16, 16), (256, 64)], {"tinyml": "tml_fc_s8"}, build_dir, opt)]
        (args.out / "opt_levels.json").write_text(json.dumps(opt_rows, indent=1))
        t2 = Table(title="tinyml kernel by GCC optimization level: cycles/MAC (code bytes)")
        t2.add_column("cpu")
        for opt in ("-O2", "-O3", "-Os"):
            t2.add_column(f"{opt} 16x16", justify="right")
            t2.add_column(f"{opt} 256x64", justify="right")
        for cpu in cpus:
            cells = []
            for opt in ("-O2", "-O3", "-Os"):
                for shape in ("16x16", "256x64"):
                    r = next(r for r in opt_rows if r["cpu"] == cpu and r["opt"] == opt and r["shape"] == shape)
                    cells.append(f"{r['cycles_per_mac']:.2f} ({r['code_bytes']})")
            t2.add_row(cpu, *cells)
        console.print(t2)
    console.print(f"wrote {args.out / 'kernels.json'} in {time.time() - t0:.0f} s")


def ad01_table(console, args, cpus, rows) -> None:
    """AD01 whole-model cycles: each of its ten layers measured at its own shape, summed."""
    from rich.table import Table

    from tinyml_host import boards as boards_mod

    cycles = {(r["cpu"], r["shape"], r["kernel"]): r["cycles"] for r in rows}
    layers = [f"{a}x{b}" for a, b in zip(AD01_WIDTHS, AD01_WIDTHS[1:])]
    macs = sum(a * b for a, b in zip(AD01_WIDTHS, AD01_WIDTHS[1:]))
    clocks = {}
    for name, b in boards_mod.load().items():
        cpu = {"cortex-m4f": "cortex-m4"}.get(b["cpu"], b["cpu"])
        clocks.setdefault(cpu, (name, b["cpu_mhz"]))
    from tinyml_host import estimate
    from tinyml_host.tmdl import TmdlModel

    # the sections an invoke reads, for the weights-in-flash column (boards.json flash_read)
    ad01 = TmdlModel.dense([bench_layer(a, b)[0] for a, b in zip(AD01_WIDTHS, AD01_WIDTHS[1:])], 1.0, 0, 1.0, 0)
    facts = boards_mod.load()
    result = []
    t = Table(title=f"AD01 (MLPerf Tiny anomaly detection, {len(layers)} dense layers, {macs:,} MACs): "
                    f"one invoke, GCC {args.opt}; weights in RAM (zero wait states) and in flash (ROMFS)")
    for col in ("cpu", "tinyml cycles", "cycles/MAC", "reference cycles", "speed-up", "board at MHz", "tinyml ms",
                "ms, weights in flash"):
        t.add_column(col, justify="left" if col in ("cpu", "board at MHz") else "right")
    for cpu in cpus:
        total = {k: sum(cycles[(cpu, shape, k)] for shape in layers) for k in KERNELS}
        board, mhz = clocks.get(cpu, ("", None))
        ms = total["tinyml"] / (mhz * 1000) if mhz else None
        flash_ms, flash_note = None, "no board with this CPU in boards.json"
        if mhz:
            flash_us, flash_note = estimate.flash_latency_us(ad01, ms * 1000, facts[board])
            flash_ms = flash_us / 1000 if flash_us is not None else None
        result.append({"cpu": cpu, "tinyml_cycles": total["tinyml"], "reference_cycles": total["reference"],
                       "macs": macs, "board": board, "cpu_mhz": mhz, "tinyml_ms": ms,
                       "tinyml_flash_ms": flash_ms, "flash_note": flash_note})
        t.add_row(cpu, f"{total['tinyml']:,}", f"{total['tinyml'] / macs:.2f}", f"{total['reference']:,}",
                  f"{total['reference'] / total['tinyml']:.1f}x", f"{board} at {mhz}" if mhz else "",
                  f"{ms:.2f}" if ms is not None else "", f"{flash_ms:.2f}" if flash_ms is not None else "not priced")
    console.print(t)
    for r in result:
        if r["board"]:
            console.print(f"{r['board']}, weights in flash: {r['flash_note']}")
    (args.out / "ad01.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
