"""The programs the suite runs that PyPI cannot provide, as .ci/system-packages.txt lists them."""

from __future__ import annotations

from pathlib import Path

LIST = Path(__file__).resolve().parents[2] / ".ci" / "system-packages.txt"


def packages() -> dict[str, list[str]]:
    """command -> the Debian/Ubuntu packages it needs."""
    table = {}
    for line in LIST.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            table[words[0]] = words[1:]
    return table


def missing(command: str) -> str:
    """The message for a program that is not on PATH: what installs it."""
    pkgs = " ".join(packages()[command])
    return (f"{command} not found: `make test` installs it (Debian/Ubuntu packages: {pkgs}; "
            f"by hand: apt-get install {pkgs})")
