"""native/tools/external_frontend.py: an external front end behind the driver interface, priced per hop beside features.c.

TensorFlow's microfrontend is never built here: a stand-in behind the same interface, written for
this test (external_frontend_standin.c: tinyml's features.c on the config the tool passes), plays
the external ELF. The oracles are independent of the tool: tinyml_host.features' frames and
test_features_emulated's own emulation of tml_fe_push.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import crossrun  # noqa: E402
import external_frontend as ef  # noqa: E402
from test_features_emulated import EXPORTS, EmulatedFrontend  # noqa: E402
from tinyml_host import features as F  # noqa: E402

STANDIN = Path(__file__).resolve().parent / "external_frontend_standin.c"


def _standin(cpu: str, out: Path) -> Path:
    try:
        crossrun.gcc(cpu)
        crossrun._unicorn()
    except crossrun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    return crossrun.build(cpu, out, exports=(ef.INIT, ef.PROCESS, "standin_fe_process_wrong"),
                          sources=[STANDIN, crossrun.CORE / "features.c"])


def _audio(n=4000):
    import fe_harness as fh

    return fh.audio_cases(2)["noise_loud"][:n]


@pytest.mark.parametrize("cpu", list(crossrun.CPUS))
def test_standin_frames_equal_and_both_priced_the_same(cpu, tmp_path):
    """The stand-in runs the same code as tinyml, so both hop figures must agree hop for hop within
    1 % (a call wrapper and a different link: on rv32 the two layouts differ by ~150 cycles a hop),
    and its frames equal tinyml_host.features'."""
    audio = _audio()
    row = ef.compare(ef.External(_standin(cpu, tmp_path / "s"), cpu), audio, tmp_path / "tiny")
    plan = ef.micro_speech_plan()
    assert row["hops"] == row["frames_equal"] == (len(audio) - plan.window_samples) // plan.step_samples + 1
    ext, tiny = np.array(row["external_per_hop"]), np.array(row["tinyml_per_hop"])
    assert (tiny > 1000).all()
    assert (abs(ext - tiny) < tiny // 100).all(), (ext - tiny)


def test_external_frames_are_checked_against_the_host(tmp_path):
    elf = _standin("cortex-m4", tmp_path / "s")
    audio = _audio()
    frames, per_hop = ef.External(elf, "cortex-m4").run(audio, ef.micro_speech_plan())
    np.testing.assert_array_equal(frames, F.Frontend(F.MICRO_SPEECH).feed(audio))
    assert len(per_hop) == len(frames)
    wrong = ef.External(elf, "cortex-m4", process="standin_fe_process_wrong")
    with pytest.raises(ef.Mismatch, match="external frame 4 differs"):
        ef.compare(wrong, audio, tmp_path / "tiny")


def test_tinyml_side_is_tml_fe_push_as_the_emulated_test_runs_it(tmp_path):
    """tinyml_hops' frames are EmulatedFrontend.feed's on the same ELF build."""
    audio = _audio(3000)
    frames, per_hop, code = ef.tinyml_hops("cortex-m0plus", audio, tmp_path)
    m = crossrun.Machine(crossrun.build("cortex-m0plus", tmp_path, exports=EXPORTS), "cortex-m0plus")
    np.testing.assert_array_equal(frames, EmulatedFrontend(m, ef.micro_speech_plan()).feed(audio))
    assert code > 0 and len(per_hop) == len(frames)


def test_main_prints_and_writes_the_row(tmp_path, capsys):
    elf = _standin("rv32imac", tmp_path / "s")
    out = tmp_path / "row.json"
    assert ef.main(["--elf", str(elf), "--cpu", "rv32imac", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "frames equal; cycles per 20 ms hop" in printed
    row = json.loads(out.read_text())
    assert row["cpu"] == "rv32imac" and row["external_median"] > 0 and row["tinyml_median"] > 0


def test_print_linker_script_is_crossruns(capsys):
    assert ef.main(["--print-linker-script"]) == 0
    assert capsys.readouterr().out.strip() == crossrun._linker_script().strip()
