"""native/tools/external_rfft.py: an external 512-point q15 real FFT priced beside tinyml's FFT part of a hop.

CMSIS-DSP is never built here: a stand-in behind the same interface (external_rfft_standin.c: a
plain DFT rounded to CMSIS-DSP's output scale) plays the external ELF. The oracles are independent
of the tool: numpy's DFT, the definition's window and shift (docs/features.md) written out here,
and test_features_emulated's hop cycles for the whole hop.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import crossrun  # noqa: E402
import external_rfft as er  # noqa: E402
from test_features_emulated import EXPORTS, hop_cycles  # noqa: E402
from tinyml_host import features as F  # noqa: E402

STANDIN = Path(__file__).resolve().parent / "external_rfft_standin.c"


def _external(cpu: str, out: Path, run: str = er.RUN) -> er.External:
    try:
        crossrun.gcc(cpu)
        crossrun._unicorn()
    except crossrun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    elf = crossrun.build(cpu, out, exports=(er.INIT, er.RUN, "standin_rfft_wrong"), sources=[STANDIN])
    ext = er.External(elf, cpu, run=run)
    cosines = np.round(32767 * np.cos(2 * np.pi * np.arange(512) / 512)).astype("<i2")
    ext.machine.uc.mem_write(ext.machine.symbol("standin_cos"), cosines.tobytes())
    return ext


def _audio(n=800):   # two hops, two FFTs
    import fe_harness as fh

    return fh.audio_cases(2)["noise_loud"][:n]


def test_fft_inputs_are_the_definitions_window_and_shift():
    plan = F.plan(F.MICRO_SPEECH)
    audio = _audio(1440)
    inputs = er.fft_inputs(audio, plan)
    assert len(inputs) == 4
    for k, z in enumerate(inputs):
        x = audio[320 * k:320 * k + 480].astype(int)
        y = [((int(a) * int(c)) >> 12) for a, c in zip(x, plan.window)]
        y = [((v + 32768) % 65536) - 32768 for v in y]
        peak = max([abs(v) for v in y if v != -32768], default=0)
        shift = 15 - peak.bit_length()
        want = [(((v << shift) + 32768) % 65536) - 32768 for v in y] + [0] * 32
        assert z.dtype == np.int16 and z.tolist() == want


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0plus"])
def test_standin_is_checked_and_both_priced(cpu, tmp_path):
    audio = _audio()
    row = er.compare(_external(cpu, tmp_path / "s"), audio, tmp_path / "tiny")
    assert row["ffts"] == 2 and row["external_worst_error"] <= 1
    # the FFT part is a part of the hop, the hop test_features_emulated prices
    hops = hop_cycles(crossrun.Machine(crossrun.build(cpu, tmp_path / "h", exports=EXPORTS), cpu), audio)
    assert len(row["tinyml_fft_per_hop"]) == len(hops) == 2
    assert 0.1 * row["tinyml_hop_median"] < row["tinyml_fft_median"] < 0.9 * row["tinyml_hop_median"]
    assert abs(row["tinyml_hop_median"] - int(np.median(hops))) < 0.05 * row["tinyml_hop_median"]
    assert row["external_median"] > 20_000   # 2,304 butterflies in 32 bits


def test_a_wrong_external_output_stops_the_run(tmp_path):
    with pytest.raises(er.Mismatch, match="frame 0: output off numpy"):
        er.compare(_external("cortex-m4", tmp_path / "s", run="standin_rfft_wrong"), _audio(), tmp_path / "tiny")


def test_the_fft_part_is_priced_on_arm_only(tmp_path):
    with pytest.raises(er.Mismatch, match="Arm cores only"):
        er.tinyml_fft_hops("rv32imac", _audio(), tmp_path)


def test_main_prints_and_writes_the_row(tmp_path, capsys, monkeypatch):
    ext = _external("cortex-m4", tmp_path / "s")
    monkeypatch.setattr(er, "External", lambda elf, cpu: ext)
    monkeypatch.setattr(er, "default_audio", lambda: ("noise_loud", _audio()))
    out = tmp_path / "row.json"
    assert er.main(["--elf", "unused.elf", "--cpu", "cortex-m4", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    row = json.loads(out.read_text())
    assert row["audio"] == "noise_loud" and f"external {row['external_median']:,}" in printed


def test_print_linker_script_is_crossruns(capsys):
    assert er.main(["--print-linker-script"]) == 0
    assert capsys.readouterr().out.strip() == crossrun._linker_script().strip()
