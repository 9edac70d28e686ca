"""Every other file the host reads, damaged: .tmdl models (estimate, deploy --model, bench on
the board), boards.json, `make bench`'s kernels.json, scripts. Each gives one line naming the
file and the problem, exit status 1, never a traceback; --debug shows the traceback."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import corrupt
import models
from tinyml_host import board, boards, cli, estimate, export, tmdl

CASES = int(os.environ.get("TINYML_FUZZ_CASES", 600)) // 4   # per file type: 150 by default
SEED = int(os.environ.get("TINYML_FUZZ_SEED", 18))
NO_SUCH_PORT = "/nonexistent/ttyACM9"


@pytest.fixture(scope="module")
def sine_tmdl() -> bytes:
    model = export.convert(models.sine_tflite())
    export.add_vectors(model, models.sine_tflite(), 8)
    return tmdl.encode(model)


def tmdl_cases(blob: bytes):
    """Half the mutations keep a valid CRC, so they reach the checks behind it."""
    yield from corrupt.mutations(blob, CASES // 2, SEED, fix_crc=False)
    yield from corrupt.mutations(blob, CASES - CASES // 2, SEED + 1, fix_crc=True)


def reader_accepts(path: Path) -> bool:
    try:
        tmdl.read(path)
        return True
    except ValueError:
        return False


def one_error_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tinyml {command}: error: "), err
    return lines[0]


def test_damaged_tmdl_given_to_estimate(sine_tmdl, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(estimate, "package_sizes", lambda: {"micropython": 9000, "circuitpython": 20000})
    accepted = 0
    for n, data in enumerate(tmdl_cases(sine_tmdl)):
        path = tmp_path / f"case{n}.tmdl"
        path.write_bytes(data)
        rc = cli.main(["estimate", str(path), "--board", "pico", "--costs", str(tmp_path / "none.json")])
        out, err = capsys.readouterr()
        if reader_accepts(path):
            assert rc == 0 and "pico" in out, (n, err)
            accepted += 1
        else:
            assert rc == 1, (n, out)
            assert one_error_line(err, "estimate").startswith(f"tinyml estimate: error: {path}: "), (n, err)
    assert 0 < accepted < CASES // 2, accepted  # some damage keeps a valid file, most does not


def test_damaged_tmdl_given_to_deploy_is_refused_before_any_board(sine_tmdl, tmp_path, capsys):
    for n, data in enumerate(tmdl_cases(sine_tmdl)):
        path = tmp_path / f"case{n}.tmdl"
        path.write_bytes(data)
        assert cli.main(["deploy", "--port", NO_SUCH_PORT, "--model", str(path)]) == 1
        line = one_error_line(capsys.readouterr().err, "deploy")
        if reader_accepts(path):  # the model passes, so the (missing) board is the problem
            assert f"cannot open board at {NO_SUCH_PORT}" in line, (n, line)
        else:
            assert line.startswith(f"tinyml deploy: error: {path}: "), (n, line)


def test_deploy_of_a_missing_model_or_source_folder(tmp_path, capsys):
    assert cli.main(["deploy", "--port", NO_SUCH_PORT, "--model", str(tmp_path / "gone.tmdl")]) == 1
    assert "gone.tmdl not found: run `tinyml export`" in one_error_line(capsys.readouterr().err, "deploy")
    assert cli.main(["deploy", "--port", NO_SUCH_PORT, "--source", str(tmp_path / "nodir")]) == 1
    assert "nodir: not a folder" in one_error_line(capsys.readouterr().err, "deploy")


def _micropython_failure(script: str, cwd: Path) -> bytes:
    """What the script raised; the unix port prints it on stdout (a board's raw REPL sends it
    as the error part of the answer, which Board.exec gets)."""
    from tinyml_host.sim import find_micropython

    env = {**os.environ, "MICROPYPATH": f".frozen:{boards.ROOT / 'device' / 'lib'}"}
    proc = subprocess.run([find_micropython(), "-c", script], cwd=cwd, env=env, capture_output=True, timeout=120)
    assert proc.returncode != 0, proc.stdout
    return proc.stdout + proc.stderr


def _bench_script(model: str) -> str:
    """What `tinyml bench` runs on the board (Board.call): device/lib/tinyml/bench.py's models()."""
    return f"from tinyml import bench\nprint(repr(bench.models([{model!r}], 1)))\n"


def test_bench_names_a_damaged_or_missing_model_on_the_board(sine_tmdl, tmp_path):
    """bench's own board code in the real micropython binary, its error as the host shows it."""
    damaged = []
    for n, data in enumerate(corrupt.mutations(sine_tmdl, 20, SEED, fix_crc=True)):
        (tmp_path / f"bad{n}.tmdl").write_bytes(data)
        if not reader_accepts(tmp_path / f"bad{n}.tmdl"):
            damaged.append(n)
    assert len(damaged) >= 4
    for n in damaged[:4]:
        err = board.board_error(_micropython_failure(_bench_script(f"bad{n}.tmdl"), tmp_path))
        assert str(err).startswith(f"board error: ValueError: bad{n}.tmdl on the board: "), err
        assert "Traceback" in err.detail and "Traceback" not in str(err)
    err = board.board_error(_micropython_failure(_bench_script("gone.tmdl"), tmp_path))
    assert str(err) == ("board error: ValueError: gone.tmdl is not on the board: "
                        "`tinyml deploy --model gone.tmdl` copies it"), err


# boards.json ---------------------------------------------------------------------------------

def _leaves(node, path=()):
    """Every (path, value) in a board entry, objects and arrays included."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, path + (i,))


def boards_mutations(data: dict, count: int, seed: int):
    """(board id, mutated path, new boards.json data): a field removed, retyped, set to an
    extreme, or an unknown field added, in a random board."""
    rng = np.random.default_rng(seed)
    ids = sorted(data["boards"])
    for _ in range(count):
        new = copy.deepcopy(data)
        board_id = ids[rng.integers(len(ids))]
        paths = [p for p, _ in _leaves(new["boards"][board_id]) if p]
        path = paths[rng.integers(len(paths))]
        parent = new["boards"][board_id]
        for k in path[:-1]:
            parent = parent[k]
        action = int(rng.integers(4))
        if action == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == 3 and isinstance(parent, dict):
            parent["not_a_field"] = 1
            path = path[:-1] + ("not_a_field",)
        else:
            parent[path[-1]] = [None, "x", -1, 10**12, [], {}, True, 3.5][rng.integers(8)]
        yield board_id, path, new


def test_damaged_boards_json(tmp_path, capsys, monkeypatch):
    schema = json.loads(boards.SCHEMA.read_text())
    original = json.loads(boards.BOARDS_JSON.read_text())
    path = tmp_path / "boards.json"
    monkeypatch.setattr(boards, "BOARDS_JSON", path)
    refused = 0
    for n, (board_id, field, data) in enumerate(boards_mutations(original, CASES, SEED)):
        path.write_text(json.dumps(data))
        rc = cli.main(["boards"])
        out, err = capsys.readouterr()
        valid = jsonschema.Draft202012Validator(schema).is_valid(data)
        if valid:
            assert rc == 0 and board_id in out, (n, field, err)
            continue
        refused += 1
        line = one_error_line(err, "boards")
        assert rc == 1 and line.startswith(f"tinyml boards: error: {path}: board {board_id!r}"), (n, field, line)
        # the field is named: as the path to it, or by name in the message about its object
        assert str(field[-1]) in line or ".".join(map(str, field)) in line, (n, field, line)
    assert refused >= CASES // 2, refused


def test_boards_json_that_is_not_json(tmp_path, capsys, monkeypatch):
    text = boards.BOARDS_JSON.read_text()
    path = tmp_path / "boards.json"
    monkeypatch.setattr(boards, "BOARDS_JSON", path)
    rng = np.random.default_rng(SEED)
    cases = [text[:int(rng.integers(len(text)))] for _ in range(10)]
    cases += [text.replace(",", "", 1), text.replace('"boards"', "boards"), "", "[1, 2]"]
    for n, case in enumerate(cases):
        path.write_text(case)
        assert cli.main(["boards"]) == 1, n
        line = one_error_line(capsys.readouterr().err, "boards")
        assert line.startswith(f"tinyml boards: error: {path}: "), line
        assert "not valid JSON" in line or case == "[1, 2]", line
    path.write_bytes(b'{"boards": {"\xff": 1}}')
    assert cli.main(["boards"]) == 1
    assert "is not UTF-8 text" in one_error_line(capsys.readouterr().err, "boards")


def test_estimate_names_a_damaged_board(sine_tmdl, tmp_path, capsys, monkeypatch):
    data = json.loads(boards.BOARDS_JSON.read_text())
    data["boards"]["pico"]["cpu_mhz"] = "fast"
    path = tmp_path / "boards.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(boards, "BOARDS_JSON", path)
    model = tmp_path / "sine.tmdl"
    model.write_bytes(sine_tmdl)
    assert cli.main(["estimate", str(model)]) == 1
    assert one_error_line(capsys.readouterr().err, "estimate") == (
        f"tinyml estimate: error: {path}: board 'pico', field cpu_mhz: 'fast' is not of type 'integer'")


# kernels.json, scripts ---------------------------------------------------------------------------

GOOD_ROW = {"cpu": "cortex-m0plus", "shape": "64x64", "kernel": "tinyml", "cycles_per_mac": 6.5}


@pytest.mark.parametrize("costs, named", [
    ("[{", "not valid JSON"),
    ('{"cpu": 1}', "expected a list of measurements"),
    ([GOOD_ROW, 7], "measurement 1 is int"),
    ([{**GOOD_ROW, "shape": "64"}], "measurement 0: shape '64'"),
    ([{**GOOD_ROW, "shape": "0x4"}], "measurement 0: shape '0x4'"),
    ([{k: v for k, v in GOOD_ROW.items() if k != "cpu"}], "measurement 0: field 'cpu' is None"),
    ([{**GOOD_ROW, "cycles_per_mac": -1}], "measurement 0: cycles_per_mac is -1"),
    ([{**GOOD_ROW, "cycles_per_mac": "6"}], "measurement 0: cycles_per_mac is '6'"),
])
def test_damaged_kernel_measurements(costs, named, sine_tmdl, tmp_path, capsys):
    path = tmp_path / "kernels.json"
    path.write_text(costs if isinstance(costs, str) else json.dumps(costs))
    model = tmp_path / "sine.tmdl"
    model.write_bytes(sine_tmdl)
    assert cli.main(["estimate", str(model), "--costs", str(path)]) == 1
    line = one_error_line(capsys.readouterr().err, "estimate")
    assert line.startswith(f"tinyml estimate: error: {path}: ") and named in line, line


def test_run_of_a_binary_or_missing_script(tmp_path, capsys):
    script = tmp_path / "model.tmdl"
    script.write_bytes(b"TMDL\x01\x00\xff\xfe")
    assert cli.main(["run", str(script), "--port", NO_SUCH_PORT]) == 1
    assert one_error_line(capsys.readouterr().err, "run") == (
        f"tinyml run: error: {script}: not a Python script: byte 0xff at offset 6 is not UTF-8 text")
    assert cli.main(["run", str(tmp_path / "gone.py"), "--port", NO_SUCH_PORT]) == 1
    assert one_error_line(capsys.readouterr().err, "run") == (
        f"tinyml run: error: {tmp_path / 'gone.py'}: No such file or directory")


# the one error path ------------------------------------------------------------------------------

_BUGGY_EXPORT = """
import sys
from tinyml_host import cli, export
def buggy(*args, **kwargs):
    return {}["a bug"]
export.export = buggy
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("how", ["none", "flag", "flag after command", "env"])
def test_internal_error_is_one_line_and_debug_shows_its_traceback(how, tmp_path):
    argv = ["export", "x.tflite", "-o", "x.tmdl"]
    argv = {"flag": ["--debug"] + argv, "flag after command": argv + ["--debug"]}.get(how, argv)
    env = {**os.environ, "TINYML_DEBUG": "1" if how == "env" else ""}
    proc = subprocess.run([sys.executable, "-c", _BUGGY_EXPORT, *argv], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr
    if how == "none":
        assert proc.stderr.startswith("tinyml export: internal error (a bug in tinyml, not in your input): "
                                      "KeyError: 'a bug'\n"), proc.stderr
        assert "Traceback" not in proc.stderr and "--debug" in proc.stderr
    else:
        assert "Traceback (most recent call last)" in proc.stderr and "in buggy" in proc.stderr, proc.stderr
        assert proc.stderr.strip().endswith("KeyError: 'a bug'")


def test_debug_shows_the_traceback_of_a_user_error_too(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"nope")
    with pytest.raises(Exception, match="not a TFLite model"):
        cli.main(["--debug", "export", str(bad), "-o", str(tmp_path / "x.tmdl")])


def test_a_board_error_is_its_last_line_and_debug_prints_the_boards_traceback(capsys, monkeypatch):
    board_text = (b'Traceback (most recent call last):\n  File "<stdin>", line 3, in <module>\n'
                  b"ValueError: corrupt .tmdl: CRC32\n")

    def fails(args):
        raise board.board_error(board_text)

    monkeypatch.setattr(cli, "cmd_info", fails)
    assert cli.main(["info"]) == 1
    assert capsys.readouterr().err == "tinyml info: error: board error: ValueError: corrupt .tmdl: CRC32\n"
    with pytest.raises(cli.TinymlError):
        cli.main(["info", "--debug"])
    assert capsys.readouterr().err == board_text.decode().strip() + "\n"
