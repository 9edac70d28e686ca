"""MkDocs hook: writes the CLI reference page (cli.md) from `tinyml_host.cli._parser()` at build time.

Nothing is fetched: the parser is imported from host/ in this checkout (argparse only, no TensorFlow),
and each command's `--help` text goes into the page as it is, so the page cannot drift from the code.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]


def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name) or "", sub


def _help(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix it so the page is the same everywhere
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def cli_markdown() -> str:
    sys.path.insert(0, str(ROOT / "host"))
    try:
        from tinyml_host.cli import _parser
    finally:
        sys.path.pop(0)
    top = _parser()
    subs = list(_subcommands(top))
    out = ["# CLI reference", "",
           "Generated from `tinyml_host.cli._parser()` when the site is built (`docs/hooks/cli_reference.py`): "
           "every option below is what `.venv/bin/tinyml COMMAND --help` prints.", "",
           "| command | what it does |", "|---|---|"]
    out += ["| [`tinyml %s`](#tinyml-%s) | %s |" % (n, n, h.replace("|", "\\|")) for n, h, _ in subs]
    out += ["", "## tinyml", "", "```text", _help(top), "```", ""]
    for name, _, sub in subs:
        out += [f"## tinyml {name}", "", "```text", _help(sub), "```", ""]
    return "\n".join(out)


def on_files(files, config):
    files.append(File.generated(config, "cli.md", content=cli_markdown()))
    return files
