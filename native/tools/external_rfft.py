"""An external q15 real FFT (CMSIS-DSP's arm_rfft_q15, 512 points) priced beside tinyml's FFT.

    python native/tools/external_rfft.py --print-linker-script > link.ld
    python native/tools/external_rfft.py --elf rfft-m4.elf --cpu cortex-m4 [--json out.json]

Takes an ELF built elsewhere (this repository neither fetches nor builds CMSIS-DSP; docs/benchmarks.md,
"CMSIS-DSP's real FFT beside tinyml's", names the sources and the commands) that exports the driver
interface of external_rfft_driver.c:

    int32_t rfft_ext_init(void);                   0: ready, a 512-point forward real FFT
    void rfft_ext_run(int16_t *in, int16_t *out);  in: 512 samples (may be overwritten),
                                                   out: 1024 int16, (re, im) of bins 0..511

linked at crossrun's memory map (`--print-linker-script`). A speed comparison only: CMSIS-DSP's
FFT rounds differently from kissfft's, which TensorFlow's front end (so tinyml's) fixes, so it
cannot stand in for it. Both get the same inputs: the FFT input of each 20 ms hop of micro_speech's
settings on TFLM's yes clip (the windowed samples shifted up, docs/features.md steps 1-2). The
external output is checked against numpy's DFT divided by 512 (CMSIS-DSP's 10.6 output for 512
points, the scale tinyml's split also ends at) within `--tolerance` units of the last place; a
larger error stops the run (Mismatch). tinyml's side is the FFT part of the hop tml_fe_push runs
(Arm cores): from the input gather (the shift into kissfft's input order) to the real split, which
also writes the 257 bins' energies (arm_rfft_q15 does not compute them), priced by the same cycle
model on the same run test_features_emulated.hop_cycles makes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "native"), str(ROOT / "host")]

import crossrun  # noqa: E402
from cycles import counter_for  # noqa: E402
# the front end tool's: the same plan, clip and error for a run that does not check out
from external_frontend import Mismatch, default_audio, micro_speech_plan  # noqa: E402

INIT, RUN = "rfft_ext_init", "rfft_ext_run"
FFT_SIZE = 512
START, STOP = "gather_fft_input", "accumulate_channels"


def fft_inputs(audio: np.ndarray, plan) -> list[np.ndarray]:
    """The FFT input of each frame (docs/features.md, "Per frame", steps 1 and 2), fft_size int16."""
    c = np.asarray(plan.window, np.int64)
    n, step, out = plan.window_samples, plan.step_samples, []
    for at in range(0, len(audio) - n + 1, step):
        y = ((audio[at:at + n].astype(np.int64) * c) >> 12).astype(np.int16)
        magnitude = np.abs(y.astype(np.int64))
        peak = int(magnitude[y != -32768].max(initial=0))
        shift = 15 - peak.bit_length()
        z = np.zeros(plan.fft_size, np.int16)
        z[:n] = (y.astype(np.int64) << shift).astype(np.int16)   # wraps in 16 bits, as the definition
        out.append(z)
    return out


class External:
    """The external ELF in its own emulated CPU (the counter hooked before the first call)."""

    def __init__(self, elf: Path, cpu: str, init: str = INIT, run: str = RUN):
        self.machine = m = crossrun.Machine(elf, cpu)
        m.symbol(init)
        m.symbol(run)
        self.init, self.run_name = init, run
        self.counter = counter_for(m)
        self.code_bytes = m.elf.code_bytes()

    def run(self, inputs: list[np.ndarray], tolerance: int) -> tuple[list[int], int]:
        """(cycles of each call, the largest error in units of the last place against numpy)."""
        m = self.machine
        m.reset_heap()
        status = m.call(self.init)
        if status != 0:
            raise Mismatch(f"{m.cpu.name}: {self.init} returned {status}")
        guard = bytes(range(0xA0, 0xB0))
        src = m.put(bytes(2 * FFT_SIZE))
        dst = m.put(bytes(4 * FFT_SIZE) + guard)
        per_call, worst = [], 0
        for k, z in enumerate(inputs):
            m.uc.mem_write(src, z.astype("<i2").tobytes())
            _, _, cycles = self.counter.measure(lambda: m.call(self.run_name, src, dst))
            if m.read(dst + 4 * FFT_SIZE, len(guard)) != guard:
                raise Mismatch(f"{m.cpu.name}: {self.run_name} wrote past its output")
            got = np.frombuffer(m.read(dst, 4 * FFT_SIZE), "<i2").astype(np.float64)
            got = got[0:2 * (FFT_SIZE // 2 + 1)].reshape(-1, 2)
            want = np.fft.rfft(z.astype(np.float64)) / FFT_SIZE
            error = max(np.abs(got[:, 0] - want.real).max(), np.abs(got[:, 1] - want.imag).max())
            if error > tolerance:
                raise Mismatch(f"{m.cpu.name}: frame {k}: output off numpy's DFT / {FFT_SIZE} by {error:.1f} "
                               f"(tolerance {tolerance})")
            worst = max(worst, int(np.ceil(error)))
            per_call.append(cycles)
        return per_call, worst


def tinyml_fft_hops(cpu: str, audio: np.ndarray, build_dir: Path, opt: str = "-O2") -> tuple[list[int], list[int]]:
    """tinyml on the same audio, hop by hop: (cycles of the FFT part of each hop, of the whole hop).

    The FFT part: every instruction from the entry of gather_fft_input up to (not with) the entry
    of accumulate_channels, whatever function it is in (out-of-line helpers on the M0+, libgcc),
    priced as CycleCounter prices a whole call: each instruction given the one before it, plus
    its branch's taken cost when the next one is not the one after it (Arm cores only)."""
    import unicorn

    from test_features_emulated import EXPORTS, EmulatedFrontend

    if crossrun.CPUS[cpu].arch != "arm":
        raise Mismatch(f"{cpu}: the FFT part is priced on Arm cores only")
    plan = micro_speech_plan()
    elf = crossrun.build(cpu, build_dir, opt=opt, exports=EXPORTS)
    m = crossrun.Machine(elf, cpu)
    entries = {}
    for symbol, (address, _, _) in m.elf.symbols.items():
        if symbol.split(".")[0] in (START, STOP):   # GCC may rename: name.constprop.0, name.isra.0
            entries[symbol.split(".")[0]] = address & ~1
    if set(entries) != {START, STOP}:
        raise Mismatch(f"{cpu}: the tinyml ELF lacks {START} or {STOP}")
    inside, pairs, last = [False], Counter(), [-1]

    def on_code(uc, address, size, user):   # added before the counter's hook: runs first
        if address == entries[START]:
            inside[0], last[0] = True, -1
        elif address == entries[STOP]:
            inside[0] = False
        if inside[0]:
            pairs[(last[0], address)] += 1
            last[0] = address

    m.uc.hook_add(unicorn.UC_HOOK_CODE, on_code)
    counter = counter_for(m)

    def fft_cycles() -> int:
        total = 0
        for (a, b), n in pairs.items():
            ia = counter.insn(a) if a >= 0 else None
            total += n * counter.model(ia, counter.insn(b), False)
            if ia is not None and b != a + ia.size:
                total += n * (counter.model(None, ia, True) - counter.model(None, ia, False))
        return total

    fe = EmulatedFrontend(m, plan)
    first = plan.window_samples - plan.step_samples
    fe.push(audio[:first])
    fft, whole, at = [], [], first
    while at + plan.step_samples <= len(audio):
        pairs.clear()
        (status, used, _), _, cycles = counter.measure(lambda: fe.push(audio[at:at + plan.step_samples]))
        assert status == 1 and used == plan.step_samples
        fft.append(fft_cycles())
        whole.append(cycles)
        at += used
    return fft, whole


def compare(external: External, audio: np.ndarray, build_dir: Path, opt: str = "-O2", tolerance: int = 16) -> dict:
    cpu = external.machine.cpu.name
    plan = micro_speech_plan()
    if plan.fft_size != FFT_SIZE:
        raise Mismatch(f"micro_speech's FFT has {plan.fft_size} points, the driver {FFT_SIZE}")
    inputs = fft_inputs(audio, plan)
    ext, worst = external.run(inputs, tolerance)
    fft, whole = tinyml_fft_hops(cpu, audio, build_dir, opt)
    if len(fft) != len(ext):
        raise Mismatch(f"{cpu}: {len(ext)} FFT inputs, {len(fft)} tinyml hops")
    return {"cpu": cpu, "opt": opt, "ffts": len(ext), "external_worst_error": worst,
            "external_median": int(np.median(ext)), "external_max": max(ext),
            "tinyml_fft_median": int(np.median(fft)), "tinyml_fft_max": max(fft),
            "tinyml_hop_median": int(np.median(whole)), "external_code_bytes": external.code_bytes,
            "external_per_call": ext, "tinyml_fft_per_hop": fft}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elf", type=Path, help="the external real FFT, built for --cpu")
    ap.add_argument("--cpu", choices=list(crossrun.CPUS), default="cortex-m4")
    ap.add_argument("--opt", default="-O2", help="tinyml's build (give the external one's level)")
    ap.add_argument("--tolerance", type=int, default=16,
                    help="largest error of the external output against numpy, in units of the last place")
    ap.add_argument("--json", type=Path, help="write the row here")
    ap.add_argument("--print-linker-script", action="store_true", help="the memory map the ELF must be linked at")
    args = ap.parse_args(argv)
    if args.print_linker_script:
        print(crossrun._linker_script())
        return 0
    if args.elf is None:
        ap.error("--elf is required")
    name, audio = default_audio()
    try:
        row = compare(External(args.elf, args.cpu), audio, ROOT / "out" / "external_rfft", args.opt, args.tolerance)
    except Mismatch as e:
        print(f"wrong result: {e}", file=sys.stderr)
        return 1
    row["audio"] = name
    print(f"{args.cpu} {args.opt}, {name}, {row['ffts']} FFT inputs of micro_speech's hops: cycles per "
          f"{FFT_SIZE}-point real FFT, median (max): external {row['external_median']:,} ({row['external_max']:,}; "
          f"within {row['external_worst_error']} of numpy) / tinyml's FFT part of the hop "
          f"{row['tinyml_fft_median']:,} ({row['tinyml_fft_max']:,}; the whole hop {row['tinyml_hop_median']:,}), "
          f"{row['external_median'] / row['tinyml_fft_median']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
