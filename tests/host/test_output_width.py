"""Every command's default output fits a 100-column terminal (issue 26, part 3), on the sine
model and an AD01-shaped one, whatever the terminal (COLUMNS) says; and `tinyml estimate`
answers first: a row per board with where the model fits, its latency and its energy.

Commands that need a board run on the virtual board (`--port sim`); `sim` and `web`, which run
until stopped, as processes read until they have said what they say at the start. Not run
here: `train` (minutes of TensorFlow; its lines go through term.say like the others), `repl`
(interactive) and `firmware` without --dry-run (a cross-compiler build)."""

import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.cells import cell_len

import models
from tinyml_host import audio, boards, cli, compress

WIDTH = 100
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "models"
AD01 = SHARED / "ad01_int8.tflite"


def too_wide(text: str) -> list[str]:
    """Lines over WIDTH columns, but for a line that is one word, a path longer than a line (how
    long depends on where the repository and the temporary folder are), which term.say keeps whole."""
    return [line for line in text.splitlines() if cell_len(line) > WIDTH and len(line.split()) > 1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder as `make demo` leaves one: models/sine.tflite and .tmdl; and models/ad01.tmdl, from
    MLPerf Tiny's AD01 when ../shared/models has it, else from `tinyml train ad01`'s model of its shape."""
    folder = tmp_path_factory.mktemp("work")
    (folder / "models").mkdir()
    (folder / "models" / "sine.tflite").write_bytes(models.sine_tflite())
    if AD01.exists():
        ad01 = AD01
    else:
        ad01 = folder / "models" / "ad01.tflite"
        ad01.write_bytes(models.ad01_shaped_tflite())
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        assert cli.main(["export", "models/sine.tflite", "-o", "models/sine.tmdl"]) == 0
        assert cli.main(["export", str(ad01), "-o", "models/ad01.tmdl", "--vectors", "0"]) == 0
    return folder


@pytest.fixture(autouse=True)
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("COLUMNS", "300")  # a wide terminal's, or a CI's: the output must not follow it
    return workspace


def run(capsys, *args) -> str:
    capsys.readouterr()
    assert cli.main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_every_help_page_fits(capsys):
    parser = cli._parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    offenders = {}
    for command in [None, *sub.choices]:
        with pytest.raises(SystemExit) as done:
            cli.main(["--help"] if command is None else [command, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: tinyml")
        offenders.update({f"{command} --help": too_wide(out)} if too_wide(out) else {})
    assert not offenders, offenders


HOST_COMMANDS = [
    ["boards"],
    ["export", "models/sine.tflite", "-o", "out/sine.tmdl"],
    ["estimate", "models/sine.tmdl"],
    ["estimate", "models/ad01.tmdl"],
    ["estimate", "models/sine.tmdl", "--board", "pico2_w"],
    ["estimate", "models/ad01.tmdl", "--board", "nano33_ble_sense"],
    ["estimate", "models/sine.tmdl", "--explain"],
    ["estimate", "models/ad01.tmdl", "--explain"],
    ["demo", "mlperf", "--out", "out"],
]


@pytest.mark.parametrize("args", HOST_COMMANDS, ids=" ".join)
def test_host_commands_fit(capsys, args):
    out = run(capsys, *args)
    assert out.strip() and not too_wide(out), too_wide(out)


def test_the_ad01_export_line_fits(capsys):
    source = AD01 if AD01.exists() else Path("models/ad01.tflite")
    out = run(capsys, "export", str(source), "-o", "out/ad01.tmdl")
    assert "640->128" in out and not too_wide(out), too_wide(out)


def test_firmware_dry_run_fits_from_the_clone(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # where the docs run it: the paths it prints are then relative
    out = run(capsys, "firmware", "pico", "--dry-run")
    assert "USER_C_MODULES=" in out and not too_wide(out), too_wide(out)
    # a command folded onto more lines ends each but its last with a backslash: still one command
    lines = out.splitlines()
    for line, after in zip(lines, lines[1:]):
        if after.startswith("    "):
            assert line.endswith(" \\"), (line, after)


def _chirp() -> Path:
    """One second of a 200 Hz to 2 kHz sweep at 16 kHz."""
    t = np.arange(16000) / 16000
    return audio.write_wav(Path("out/chirp.wav"), (8000 * np.sin(2 * math.pi * (200 + 900 * t) * t)).astype(np.int16))


def test_features_fit(capsys):
    out = run(capsys, "features", str(_chirp()), "-o", "out/features.png")
    assert "49 frames" in out and not too_wide(out), too_wide(out)


def test_data_evaluate_and_compress_fit(capsys):
    cached = models.gesture_run()
    out = run(capsys, "data", str(cached / "data"), "--plot", "out/samples.png")
    out += run(capsys, "evaluate", str(cached / "models" / "gesture.tmdl"), str(cached / "data"))
    rows = json.loads((models.compress_run() / "compress.json").read_text())
    capsys.readouterr()
    compress.print_table(rows)
    out += capsys.readouterr().out
    assert "accuracy" in out and "distilled" in out and not too_wide(out), too_wide(out)


def test_board_commands_on_the_virtual_board_fit(capsys):
    Path("hello.py").write_text("print('hello')\n")
    offenders = {}
    for args in (["deploy", "--port", "sim", "--model", "models/sine.tmdl", "--model", "models/ad01.tmdl"],
                 ["info", "--port", "sim"],
                 ["bench", "--port", "sim", "--invokes", "20"],
                 ["run", "hello.py", "--port", "sim"],
                 ["monitor", "--port", "sim", "--seconds", "2"],
                 ["record", "--port", "sim", "--label", "wave", "--seconds", "1", "--countdown", "0",
                  "--data", "out/gestures"],
                 ["features", str(_chirp()), "--port", "sim", "-o", "out/features-sim.png"]):
        out = run(capsys, *args)
        assert out.strip(), args
        if too_wide(out):
            offenders[" ".join(args)] = too_wide(out)
    assert not offenders, offenders


def test_demos_fit(capsys, workspace):
    out = run(capsys, "demo", "--out", "out/demo", "--models", "models")
    assert "golden vectors passed" in out and not too_wide(out), too_wide(out)
    out = run(capsys, "demo", "ad01", "--out", "out/demo", "--models", "models", "--windows", "2",
              "--board", "nano33_ble_sense")
    assert "MLPerf Tiny" in out and not too_wide(out), too_wide(out)


def _first_lines(args, until, cwd):
    """Start `tinyml ARGS`, read stdout until a line containing `until`, stop it; the lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "host"), "COLUMNS": "300"}
    proc = subprocess.Popen([sys.executable, "-m", "tinyml_host.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if until in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert any(until in line for line in lines), (lines, proc.stderr)
    return "\n".join(lines)


def test_sim_and_web_fit(workspace):
    out = _first_lines(["sim", "--heap", "board"], "try:", workspace)
    out += "\n" + _first_lines(["web", "--port", "0"], "phone:", workspace)
    assert not too_wide(out), too_wide(out)


# --- estimate answers first ----------------------------------------------------------------------

def _estimate(capsys, model, *extra):
    text = run(capsys, "estimate", model, *extra)
    rows = json.loads(run(capsys, "estimate", model, "--json", *extra))
    return text, rows


def _quantity(cell: str) -> float:
    """'17.8 us' -> 17.8, '7.28 ms' -> 7280 (microseconds); '0.371 uJ', '1.27 mJ' -> uJ; '>= 8.68 mW' -> mW."""
    value, unit = re.fullmatch(r"(?:>= )?([\d.,]+) (us|ms|s|uJ|mJ|mW)", cell).groups()
    return float(value.replace(",", "")) * {"us": 1, "ms": 1e3, "s": 1e6, "uJ": 1, "mJ": 1e3, "mW": 1}[unit]


@pytest.mark.parametrize("model", ["models/sine.tmdl", "models/ad01.tmdl"])
def test_estimate_leads_with_fits_latency_and_energy_per_board(capsys, model):
    text, rows = _estimate(capsys, model)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("board "))
    assert header <= 2, lines[:header]  # at most the model's own line before the answer
    names = lines[header].split()
    for column in ("fits", "latency", "energy", "power"):
        assert column in names, lines[header]
    native = {r["board"]: r for r in rows if r["backend"] == "native"}
    table = lines[header + 2: header + 2 + len(native)]
    assert [line.split()[0] for line in table] == list(boards.load())  # every board, in boards.json's order
    for line in table:
        cells = re.split(r"\s{2,}", line.strip())
        board, fits, latency, energy, power = cells[0], cells[1], cells[-3], cells[-2], cells[-1]
        r = native[board]
        v = r["verdict"]
        assert fits == (v["fits"] or (f"maybe {v['may_fit']}" if v["may_fit"] else "no")), line
        for cell, figure in ((latency, r["latency_us"]), (energy, r["energy_uj"]), (power, r["avg_mw"])):
            if figure is None:
                assert cell == "-", line
            else:  # three significant digits of the JSON's figure
                assert _quantity(cell) == pytest.approx(figure, rel=5e-3, abs=0.051), (line, figure)
        assert power.startswith(">= ") == bool(r["avg_is_lower_bound"] and r["avg_mw"] is not None), line
    assert len(lines) <= header + 2 + len(native) + 6 + (20 if "ad01" in model else 0), text


def test_estimate_for_one_board_gives_every_figure_and_explain_gives_the_reasons(capsys):
    text, rows = _estimate(capsys, "models/ad01.tmdl", "--board", "pico")
    native = next(r for r in rows if r["backend"] == "native")
    assert {r["board"] for r in rows} == {"pico"}
    for figure in (f"{native['ram_bytes']:,} B", f"{native['ram_streamed_bytes']:,} B", f"{native['flash_bytes']:,} B",
                   f"{native['latency_us']:.1f} us", f"{native['latency_flash_us']:.1f} us",
                   f"{native['energy_uj']:.3f} uJ"):
        assert figure in text, figure
    # the long reasons are cut to their first clause here and whole with --explain
    nano = run(capsys, "estimate", "models/ad01.tmdl", "--board", "nano33_ble_sense")
    explained = run(capsys, "estimate", "models/ad01.tmdl", "--board", "nano33_ble_sense", "--explain")
    note = boards.load()["nano33_ble_sense"]["flash_read"]["source"]
    assert "no documented flash read cost (--explain: why)" in nano
    assert " ".join(note.split()) not in " ".join(nano.split())
    assert " ".join(note.split()) in " ".join(explained.split())
    assert "How these figures are found" in explained and "docs/models.md#will-it-fit" in explained


def test_the_output_is_the_same_in_any_terminal_width(capsys, monkeypatch):
    outs = set()
    for columns in ("40", "100", "300"):
        monkeypatch.setenv("COLUMNS", columns)
        outs.add(run(capsys, "estimate", "models/ad01.tmdl"))
    assert len(outs) == 1
