"""An external audio front end behind a small driver, priced per 20 ms hop beside tinyml's features.c.

    python native/tools/external_frontend.py --print-linker-script > link.ld
    python native/tools/external_frontend.py --elf tf-frontend-m4.elf --cpu cortex-m4 [--json out.json]

Takes an ELF built elsewhere (this repository neither fetches nor builds TensorFlow's microfrontend
or kissfft; docs/benchmarks.md, "TensorFlow's microfrontend, measured the same way", names the
sources and the commands) that exports the driver interface of external_frontend_driver.c:

    int32_t fe_ext_init(const void *tinyml_config);    0: ready, on micro_speech's settings
    int32_t fe_ext_process(const int16_t *samples, int32_t n, int32_t *consumed, uint16_t *frame);

linked at crossrun's memory map (`--print-linker-script`). `tinyml_config` is a tml_fe_config of
micro_speech's settings in emulated RAM (a driver with its own settings ignores it). The audio
(TFLM's yes clip when ../shared/models/micro_speech is there, else loud noise) is fed hop by hop
to both front ends exactly as test_features_emulated.hop_cycles feeds tinyml's: the first
window minus one hop, then one 20 ms hop per call, each call priced by cycles.py. Before any
figure is printed every external frame must equal tinyml_host.features' frame and tinyml's
emulated frame, frame for frame (Mismatch otherwise).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "native"), str(ROOT / "host")]

import crossrun  # noqa: E402
from cycles import counter_for  # noqa: E402

INIT, PROCESS = "fe_ext_init", "fe_ext_process"


class Mismatch(RuntimeError):
    pass


def micro_speech_plan():
    from tinyml_host import features as F

    return F.plan(F.MICRO_SPEECH)


def default_audio() -> tuple[str, np.ndarray]:
    import fe_harness as fh

    cases = fh.audio_cases(2)
    name = "yes_1000ms" if "yes_1000ms" in cases else "noise_loud"
    return name, cases[name][:16000]


class External:
    """The external ELF in its own emulated CPU (the counter hooked before the first call)."""

    def __init__(self, elf: Path, cpu: str, init: str = INIT, process: str = PROCESS):
        self.machine = m = crossrun.Machine(elf, cpu)
        m.symbol(init)
        m.symbol(process)
        self.init, self.process = init, process
        self.counter = counter_for(m)
        self.code_bytes = m.elf.code_bytes()

    def run(self, audio: np.ndarray, plan) -> tuple[np.ndarray, list[int]]:
        """(frames, cycles of each hop that completed a frame)."""
        import fe_harness as fh

        m, n_ch = self.machine, plan.config.num_channels
        m.reset_heap()
        arrays = fh.tables(plan)
        pointers = [m.put(arrays[name].tobytes(), align=4) for name in fh._TABLES]
        values = fh.scalars(plan)
        cfg = m.put(struct.pack("<15i8I", *(values[n] for n in fh._INTS), *pointers))
        status = m.call(self.init, cfg)
        if status != 0:
            raise Mismatch(f"{m.cpu.name}: {self.init} returned {status}")
        consumed = m.put(bytes(4))
        guard = bytes(range(0xA0, 0xB0))
        frame = m.put(bytes(2 * n_ch) + guard)
        buf = m.put(bytes(2 * plan.window_samples))
        first = plan.window_samples - plan.step_samples

        def push(chunk):
            m.uc.mem_write(buf, np.ascontiguousarray(chunk, "<i2").tobytes())
            s = m.call(self.process, buf, len(chunk), consumed, frame)
            if m.read(frame + 2 * n_ch, len(guard)) != guard:
                raise Mismatch(f"{m.cpu.name}: {self.process} wrote past the frame")
            return s, struct.unpack("<i", m.read(consumed, 4))[0]

        s, used = push(audio[:first])
        if s != 0 or used != first:
            raise Mismatch(f"{m.cpu.name}: the first {first} samples gave status {s}, consumed {used}")
        frames, per_hop, at = [], [], first
        while at + plan.step_samples <= len(audio):
            (s, used), _, cycles = self.counter.measure(lambda: push(audio[at:at + plan.step_samples]))
            if s != 1 or used != plan.step_samples:
                raise Mismatch(f"{m.cpu.name}: hop at sample {at} gave status {s}, consumed {used}")
            frames.append(np.frombuffer(m.read(frame, 2 * n_ch), "<u2").copy())
            per_hop.append(cycles)
            at += used
        return np.array(frames, np.uint16).reshape(-1, n_ch), per_hop


def tinyml_hops(cpu: str, audio: np.ndarray, build_dir: Path, opt: str = "-O2") -> tuple[np.ndarray, list[int], int]:
    """tinyml's features.c on the same audio: (frames, cycles per hop, code bytes)."""
    from test_features_emulated import EXPORTS, EmulatedFrontend

    plan = micro_speech_plan()
    elf = crossrun.build(cpu, build_dir, opt=opt, exports=EXPORTS)
    m = crossrun.Machine(elf, cpu)
    counter = counter_for(m)
    fe = EmulatedFrontend(m, plan)
    first = plan.window_samples - plan.step_samples
    fe.push(audio[:first])
    frames, per_hop, at = [], [], first
    while at + plan.step_samples <= len(audio):
        (status, used, frame), _, cycles = counter.measure(lambda: fe.push(audio[at:at + plan.step_samples]))
        assert status == 1 and used == plan.step_samples
        frames.append(frame)
        per_hop.append(cycles)
        at += used
    code = crossrun.read_elf(crossrun.build(cpu, build_dir, opt=opt, exports=("tml_fe_push",),
                                            sources=[crossrun.CORE / "features.c"])).code_bytes()
    return np.array(frames, np.uint16).reshape(-1, plan.config.num_channels), per_hop, code


def compare(external: External, audio: np.ndarray, build_dir: Path, opt: str = "-O2") -> dict:
    """Both front ends hop by hop on `audio`; Mismatch unless every frame equals the host's."""
    from tinyml_host import features as F

    cpu = external.machine.cpu.name
    plan = micro_speech_plan()
    want = F.Frontend(F.MICRO_SPEECH).feed(audio)
    ext_frames, ext_hops = external.run(audio, plan)
    tiny_frames, tiny_hops, tiny_code = tinyml_hops(cpu, audio, build_dir, opt)
    for who, got in (("external", ext_frames), ("tinyml", tiny_frames)):
        if got.shape != want.shape:
            raise Mismatch(f"{cpu}: {who} gave {got.shape[0]} frames, tinyml_host.features {want.shape[0]}")
        bad = np.flatnonzero((got != want).any(axis=1))
        if len(bad):
            raise Mismatch(f"{cpu}: {who} frame {bad[0]} differs from tinyml_host.features "
                           f"({len(bad)} of {len(want)} frames differ)")
    return {"cpu": cpu, "opt": opt, "hops": len(ext_hops), "frames_equal": int(len(want)),
            "external_median": int(np.median(ext_hops)), "external_max": max(ext_hops),
            "tinyml_median": int(np.median(tiny_hops)), "tinyml_max": max(tiny_hops),
            "external_code_bytes": external.code_bytes, "tinyml_code_bytes": tiny_code,
            "external_per_hop": ext_hops, "tinyml_per_hop": tiny_hops}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elf", type=Path, help="the external front end, built for --cpu")
    ap.add_argument("--cpu", choices=list(crossrun.CPUS), default="cortex-m4")
    ap.add_argument("--opt", default="-O2", help="tinyml's build (give the external one's level)")
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
        row = compare(External(args.elf, args.cpu), audio, ROOT / "out" / "external_frontend", args.opt)
    except Mismatch as e:
        print(f"wrong result: {e}", file=sys.stderr)
        return 1
    row["audio"] = name
    print(f"{args.cpu} {args.opt}, {name}, micro_speech settings: {row['frames_equal']} frames equal; "
          f"cycles per 20 ms hop, median (max): external {row['external_median']:,} ({row['external_max']:,}, "
          f"code {row['external_code_bytes']} B) / tinyml {row['tinyml_median']:,} ({row['tinyml_max']:,}, "
          f"code {row['tinyml_code_bytes']} B), {row['external_median'] / row['tinyml_median']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
