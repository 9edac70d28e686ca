"""`make bench` runs the rows whose toolchain is here and names the ones it skips."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import bench  # noqa: E402
import crossrun  # noqa: E402


def _without(monkeypatch, *commands):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name in commands else real(name, *a, **k))


def test_a_missing_cross_compiler_skips_only_its_rows(monkeypatch):
    _without(monkeypatch, "riscv64-unknown-elf-gcc")
    cpus, skipped = bench.available_cpus()
    assert "rv32imac" not in cpus
    assert [what for what, _ in skipped] == ["rv32imac"]
    assert "riscv64-unknown-elf-gcc not found" in skipped[0][1] and "gcc-riscv64-unknown-elf" in skipped[0][1]
    if shutil.which("arm-none-eabi-gcc"):
        assert {"cortex-m4", "cortex-m0plus", "cortex-m33"} <= set(cpus)


def test_bench_with_no_toolchain_names_every_skipped_row(monkeypatch, tmp_path, capsys):
    gccs = {cpu.gcc for cpu in crossrun.CPUS.values()}
    _without(monkeypatch, *gccs, "xtensa-lx106-elf-gcc", "qemu-system-xtensa", "qemu-system-arm")
    assert bench.main(["--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    lines = " ".join(printed.split()).split("skipped ")[1:]  # one skip each, rich may wrap it
    for cpu in crossrun.CPUS:
        # whether it matters to the user: their estimates fall back to the shipped table
        assert any(l.startswith(cpu) and "prices" in l and "the table the package ships" in l for l in lines)
    assert any(l.startswith("xtensa-lx106, optional") for l in lines)
    assert any(l.startswith("viper (qemu port), optional") and "qemu-system-arm not found" in l for l in lines)
    assert not (tmp_path / "kernels.json").exists()  # nothing measured, nothing written as if it were
    assert "commit it" not in printed


def test_only_a_developers_run_writes_the_shipped_table(monkeypatch, tmp_path, capsys):
    """`make bench` (a user's run) writes out/bench only; --update-shipped also rewrites the table
    the package ships, and says to commit it. The measuring is replaced by a stand-in table."""
    shipped = tmp_path / "kernel_costs.json"
    shipped.write_text("[]")
    monkeypatch.setattr(bench, "SHIPPED_COSTS", shipped)
    monkeypatch.setattr(bench, "available_cpus", lambda: (list(crossrun.CPUS), []))
    monkeypatch.setattr(bench, "window_section", lambda *a: None)
    measured = '[{"cpu": "cortex-m4", "shape": "16x16", "kernel": "tinyml", "cycles_per_mac": 2.0}]'
    monkeypatch.setattr(bench, "unicorn_tables", lambda console, args, *a: (args.out / "kernels.json").write_text(measured))
    _without(monkeypatch, "xtensa-lx106-elf-gcc", "qemu-system-xtensa", "qemu-system-arm")
    out = tmp_path / "bench"
    out.mkdir()

    def printed():  # rich wraps long lines
        return " ".join(capsys.readouterr().out.split())

    assert bench.main(["--out", str(out)]) == 0
    assert shipped.read_text() == "[]" and "commit it" not in printed()
    assert bench.main(["--out", str(out), "--update-shipped"]) == 0
    assert shipped.read_text() == measured and "commit it with the kernel change" in printed()
    # a run that skipped a CPU cannot stand for every CPU
    monkeypatch.setattr(bench, "available_cpus", lambda: (["cortex-m4"], [("rv32imac", "no compiler")]))
    shipped.write_text("[]")
    assert bench.main(["--out", str(out), "--update-shipped"]) == 1
    assert shipped.read_text() == "[]" and "not updating kernel_costs.json" in printed()


def test_bench_layer_is_a_valid_layer_the_reference_runs():
    from tinyml_host.reference import fully_connected

    layer, x = bench.bench_layer(16, 8)
    y = fully_connected(x.reshape(1, -1), layer, "tflm")
    assert y.shape == (1, 8) and y.dtype.kind == "i"
