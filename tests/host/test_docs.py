"""The documentation: README as a landing page and the MkDocs site built from docs/ (issue 26).

`mkdocs build --strict` runs here so that `make test` (and CI) fails on a broken link, a missing
anchor or a page left out of the nav; it needs no network (the theme's fonts are off, the CLI
reference is generated from the parser by docs/hooks/cli_reference.py)."""
import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _mkdocs(config: Path, site: Path):
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""})


def test_site_builds_strict(tmp_path):
    r = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert r.returncode == 0, r.stderr[-3000:]
    cli = (tmp_path / "site" / "cli" / "index.html").read_text()
    from tinyml_host.cli import _parser
    subs = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in subs.choices:
        assert f'id="tinyml-{name}"' in cli, f"CLI reference lacks tinyml {name}"


def test_strict_build_fails_on_a_broken_link(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "host").symlink_to(ROOT / "host")
    page = tmp_path / "docs" / "energy.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    r = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert r.returncode != 0 and "no-such-page.md" in r.stderr, r.stderr[-2000:]


def test_readme_is_a_landing_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    assert "make demo" in text and "make test" in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to missing {target}"


def _readme_commands():
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README.read_text(), re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [ln.split("  #")[0].strip() for ln in lines if ln.strip().startswith(".venv/bin/tinyml ")]


def test_readme_commands_parse():
    """Every `.venv/bin/tinyml ...` line in the README is a command the parser accepts as written."""
    from tinyml_host.cli import _parser
    cmds = _readme_commands()
    assert len(cmds) >= 10
    for cmd in cmds:
        try:
            _parser().parse_args(shlex.split(cmd)[1:])
        except SystemExit as e:
            pytest.fail(f"README command does not parse ({e.code}): {cmd}")
