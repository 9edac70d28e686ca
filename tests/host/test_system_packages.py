"""`make test` installs exactly the system packages the suite needs (.ci/system-packages.txt).

The list is checked against the programs the suite's own code runs, against the packages
that really own those programs (dpkg, where the machine has it), and the installer script
is run against fakes of id, sudo, dpkg-query and apt-get, so no test touches the system.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "native" / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "native"))
import crossrun  # noqa: E402
import harness  # noqa: E402
import system_packages  # noqa: E402
import test_web  # noqa: E402  (tests/host is on sys.path: pytest's rootdir-less test modules)
import xtensarun  # noqa: E402
from tinyml_host import speech_synth  # noqa: E402

INSTALLER = ROOT / ".ci" / "install-system-packages.sh"


def test_list_names_exactly_the_programs_the_suite_runs():
    runs = {harness.CC, xtensarun.GCC, xtensarun.QEMU, test_web.CHROMIUM_COMMAND, speech_synth.ESPEAK,
            speech_synth.FLITE,
            *(cpu.gcc for cpu in crossrun.CPUS.values())}
    assert set(system_packages.packages()) == runs


def test_make_test_and_ci_use_the_installer():
    makefile = (ROOT / "Makefile").read_text()
    test_rule = makefile[makefile.index("\ntest:"):].split("\n\n")[0]
    assert "system-packages" in test_rule
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if not line.startswith("#")]
    assert "make test" in ci and not any("apt-get" in line for line in ci)  # one list, one installer


@pytest.mark.skipif(not shutil.which("dpkg"), reason="not a Debian/Ubuntu machine: no dpkg to ask who owns what")
def test_each_program_comes_from_its_listed_package():
    for command, packages in system_packages.packages().items():
        path = shutil.which(command)
        assert path, system_packages.missing(command)  # make test installed it before the suite ran
        owners = set()
        for file in {path, os.path.realpath(path)}:  # /usr/bin/gcc is gcc's, the gcc-12 it links to gcc-12's
            found = subprocess.run(["dpkg", "-S", file], capture_output=True, text=True)
            if found.returncode == 0:
                owners |= {name.strip().split(":")[0] for name in found.stdout.split(": ", 1)[0].split(",")}
        assert owners, f"{path} belongs to no package"
        assert owners & set(packages), f"{command} is in {owners}, the list says {packages}"


def _fake_bin(tmp_path, uid, installed, sudo_ok):
    """A PATH holding fakes of id, sudo, dpkg-query and apt-get; apt-get logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    fakes = {
        "id": f'echo {uid}',
        "dpkg-query": 'case " %s " in *" ${@: -1} "*) printf "install ok installed";; *) exit 1;; esac'
                      % " ".join(installed),
        "apt-get": f'echo "$*" >> {log}',
        "sudo": ('[ "$1" = -n ] && shift; "$@"' if sudo_ok else 'exit 1'),
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return env, log


def _run_installer(tmp_path, env, packages_text):
    ci = tmp_path / "ci"
    ci.mkdir()
    shutil.copy(INSTALLER, ci / INSTALLER.name)
    (ci / "system-packages.txt").write_text(packages_text)
    return subprocess.run(["bash", str(ci / INSTALLER.name)], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


LIST = "# comment\nfoo-gcc   pkg-a pkg-b   # who uses it\nbar       pkg-c\n"


def test_installer_as_root_installs_only_what_is_missing(tmp_path):
    env, log = _fake_bin(tmp_path, uid=0, installed=["pkg-b"], sudo_ok=False)
    result = _run_installer(tmp_path, env, LIST)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "update -qq" and calls[1] == "install -y -qq pkg-a pkg-c"


def test_installer_is_silent_when_nothing_is_missing(tmp_path):
    env, log = _fake_bin(tmp_path, uid=1000, installed=["pkg-a", "pkg-b", "pkg-c"], sudo_ok=False)
    result = _run_installer(tmp_path, env, LIST)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "") and not log.exists()


def test_installer_uses_sudo_when_it_can(tmp_path):
    env, log = _fake_bin(tmp_path, uid=1000, installed=[], sudo_ok=True)
    result = _run_installer(tmp_path, env, LIST)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines()[1] == "install -y -qq pkg-a pkg-b pkg-c"


def test_installer_without_root_or_sudo_stops_with_the_command(tmp_path):
    env, log = _fake_bin(tmp_path, uid=1000, installed=["pkg-a"], sudo_ok=False)
    result = _run_installer(tmp_path, env, LIST)
    assert result.returncode == 1 and not log.exists()
    assert "sudo apt-get update && sudo apt-get install -y pkg-b pkg-c" in result.stderr
