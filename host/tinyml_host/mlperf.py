"""MLPerf Tiny's published AD01 latencies, beside `tinyml estimate`'s native-kernel figures."""

from __future__ import annotations

from .tmdl import TmdlModel

# One AD01 inference, as ../shared/models/README.md lists MLPerf Tiny's results (round in brackets).
AD01_RESULTS = [
    {"system": "TFLM + CMSIS-NN (v0.5 reference)", "board": "STM32L4R5, Cortex-M4 @ 120 MHz", "ms": 10.05, "mhz": 120},
    {"system": "Plumerai (v1.1)", "board": "STM32L4R5, Cortex-M4 @ 120 MHz", "ms": 4.05, "mhz": 120},
    {"system": "X-CUBE-AI (v1.0)", "board": "STM32 (board not in the list)", "ms": 7.58, "mhz": None},
    {"system": "TFLM + CMSIS (v0.7)", "board": "Renesas RA6M4, Cortex-M33 @ 200 MHz", "ms": 4.61, "mhz": 200},
    {"system": "microTVM + CMSIS-NN (v1.0)", "board": "nRF5340, Cortex-M33 @ 128 MHz", "ms": 6.27, "mhz": 128},
]
AD01_WIDTHS = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
AD01_MACS = sum(a * b for a, b in zip(AD01_WIDTHS, AD01_WIDTHS[1:]))  # 264,192
HOW = ("tinyml rows: estimates, make bench's cycle model x each layer's MACs, kernels only; the others: "
       "MLPerf Tiny, measured on the board.")
CAVEAT = ("Not like for like: tinyml's figures are a cycle model of its kernels (zero-wait-state memory, no "
          "interpreter or Python around them), MLPerf's are whole inferences measured on other boards at other "
          f"clocks; cycles/MAC = latency x clock / {AD01_MACS:,} MACs puts them on one scale.")


def is_ad01_shaped(model: TmdlModel) -> bool:
    """AD01's dense stack (MLPerf's model, or one of its shape from `tinyml train ad01`)."""
    return [model.input_size] + [l.weights.shape[0] for l in model.layers] == AD01_WIDTHS


def print_comparison(rows: list[dict], console=None) -> None:
    """rows: `estimate.estimate`'s, for an AD01-shaped model."""

    from . import term

    console = console or term.console()
    t = term.table()
    for c in ("", "CPU", "latency", "cycles/MAC"):
        t.add_column(c, justify="right" if c in ("latency", "cycles/MAC") else "left")
    for r in rows:
        if r["native_us"] is not None:
            t.add_row(f"tinyml, {r['board']}", f"{r['cpu']} @ {r['cpu_mhz']} MHz", f"{r['native_us'] / 1000:.2f} ms",
                      f"{r['native_us'] * r['cpu_mhz'] / AD01_MACS:.2f}")
    for m in AD01_RESULTS:
        per_mac = f"{m['ms'] * 1000 * m['mhz'] / AD01_MACS:.2f}" if m["mhz"] else "-"
        t.add_row(m["system"], m["board"], f"{m['ms']:.2f} ms", per_mac)
    console.print()
    term.say("one AD01 inference: tinyml's native kernel (estimate) beside MLPerf Tiny's published results:",
             file=console.file)
    term.show(t, console=console)
    term.say(HOW + " " + CAVEAT, file=console.file)
