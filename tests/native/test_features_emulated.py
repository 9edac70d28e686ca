"""native/core/features.c cross-compiled for Cortex-M0+/M4/M33 and rv32imac, run under Unicorn,
bit-exact with tinyml_host.features; cycles per 20 ms hop under native/tools/cycles.py's model.

Run as a script it prints the cycles per hop of micro_speech's settings on each core."""

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import crossrun  # noqa: E402
import cycles  # noqa: E402
import fe_harness as fh  # noqa: E402
from tinyml_host import features as F  # noqa: E402

EXPORTS = crossrun.EXPORTS + ("tml_fe_check", "tml_fe_scratch_bytes", "tml_fe_reset", "tml_fe_push")


class EmulatedFrontend:
    """A tml_fe_config, state and scratch in emulated RAM; frames pushed one hop at a time."""

    def __init__(self, machine, plan):
        self.m, self.plan = machine, plan
        machine.reset_heap()
        arrays = fh.tables(plan)
        pointers = [machine.put(arrays[name].tobytes(), align=4) for name in fh._TABLES]
        values = fh.scalars(plan)
        self.cfg = machine.put(struct.pack("<15i7I", *(values[n] for n in fh._INTS), *pointers))
        n_ch = plan.config.num_channels
        samples = machine.put(bytes(2 * plan.window_samples))
        noise = machine.put(bytes(4 * n_ch))
        self.state = machine.put(struct.pack("<IIi", samples, noise, 0))
        assert machine.call("tml_fe_check", self.cfg) == 0
        self.scratch = machine.put(bytes(machine.call("tml_fe_scratch_bytes", self.cfg)), align=8)
        self.consumed = machine.put(bytes(4))
        self.frame = machine.put(bytes(2 * n_ch))
        self.audio = machine.put(bytes(2 * 48000))
        assert machine.call("tml_fe_reset", self.cfg, self.state) == 0

    def push(self, chunk: np.ndarray):
        self.m.uc.mem_write(self.audio, np.ascontiguousarray(chunk, "<i2").tobytes())
        status = self.m.call("tml_fe_push", self.cfg, self.state, self.audio, len(chunk), self.consumed,
                             self.frame, self.scratch)
        used = struct.unpack("<i", self.m.read(self.consumed, 4))[0]
        frame = np.frombuffer(self.m.read(self.frame, 2 * self.plan.config.num_channels), "<u2").copy()
        return status, used, frame

    def feed(self, audio: np.ndarray) -> np.ndarray:
        frames, at = [], 0
        while True:
            status, used, frame = self.push(audio[at:])
            assert status >= 0, status
            at += used
            if status == 1:
                frames.append(frame)
            elif at >= len(audio):
                return np.array(frames, np.uint16).reshape(-1, self.plan.config.num_channels)


@pytest.fixture(scope="module", params=list(crossrun.CPUS))
def machine(request, tmp_path_factory):
    cpu = request.param
    try:
        crossrun.gcc(cpu)
        crossrun._unicorn()
    except crossrun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    elf = crossrun.build(cpu, tmp_path_factory.mktemp(f"fe-{cpu}"), exports=EXPORTS)
    m = crossrun.Machine(elf, cpu)
    m.elf_file = elf
    return m


@pytest.mark.parametrize("name", ["micro_speech", "op_defaults", "fft_1024", "odd_settings"])
def test_bit_exact_on_emulated_cores(machine, name):
    config = fh.configs()[name]
    for signal, audio in fh.audio_cases(8).items():
        audio = audio[:6000]
        want = F.Frontend(config).feed(audio)
        got = EmulatedFrontend(machine, F.plan(config)).feed(audio)
        assert np.array_equal(got, want), (machine.cpu.name, name, signal)


def hop_cycles(machine, audio: np.ndarray) -> list[int]:
    """Cycles of each tml_fe_push call that completes a frame, micro_speech settings."""
    plan = F.plan(F.MICRO_SPEECH)
    fe = EmulatedFrontend(machine, plan)
    counter = cycles.counter_for(machine)
    fe.push(audio[:plan.window_samples - plan.step_samples])
    out, at = [], plan.window_samples - plan.step_samples
    while at + plan.step_samples <= len(audio):
        (status, used, _), _, n = counter.measure(lambda: fe.push(audio[at:at + plan.step_samples]))
        assert status == 1 and used == plan.step_samples
        out.append(n)
        at += used
    return out


def test_cycles_per_hop_are_measured(machine):
    # a fresh Machine: Unicorn's code hook misses blocks translated before it was added
    fresh = crossrun.Machine(machine.elf_file, machine.cpu.name)
    audio = fh.audio_cases(2)["noise_loud"]
    per_hop = hop_cycles(fresh, audio[:3000])
    assert len(per_hop) == (3000 - 160) // 320 and min(per_hop) > 1000


if __name__ == "__main__":
    import tempfile
    sys.path.insert(0, str(fh.ROOT / "host"))
    audio = fh.audio_cases(2)["yes_1000ms"] if "yes_1000ms" in fh.audio_cases(2) else fh.audio_cases(2)["noise_loud"]
    with tempfile.TemporaryDirectory() as d:
        for cpu in crossrun.CPUS:
            m = crossrun.Machine(crossrun.build(cpu, Path(d), exports=EXPORTS), cpu)
            c = hop_cycles(m, audio[:16000])
            print(f"{cpu}: cycles per 20 ms hop (micro_speech, 40 channels): median {int(np.median(c))}, "
                  f"max {max(c)} over {len(c)} hops")
