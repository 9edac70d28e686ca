#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages named in .ci/system-packages.txt that are missing.
# As root: apt-get. Otherwise: sudo, when it can run without a password or can ask for one
# on this terminal. Otherwise: stops with the exact command to run. Quiet when nothing is missing.
set -euo pipefail
list="$(dirname "$0")/system-packages.txt"

installed() {  # a package is installed (dpkg), or, without dpkg, its command is on PATH
    if command -v dpkg-query >/dev/null; then
        [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
    else
        command -v "$2" >/dev/null
    fi
}

missing=()
while read -r line; do
    line="${line%%#*}"
    read -r -a words <<<"$line"
    [ ${#words[@]} -ge 2 ] || continue
    for pkg in "${words[@]:1}"; do
        installed "$pkg" "${words[0]}" || missing+=("$pkg")
    done
done <"$list"
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y ${missing[*]}"
if ! command -v apt-get >/dev/null; then
    echo "tinyml: the tests need these Debian/Ubuntu packages, or your system's equivalents: ${missing[*]}" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    sudo=()
elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
    sudo=(sudo)
else
    echo "tinyml: the tests need system packages that are missing; install them with:" >&2
    if command -v sudo >/dev/null; then
        echo "    sudo apt-get update && sudo $cmd" >&2
    else
        echo "    apt-get update && $cmd        (as root)" >&2
    fi
    exit 1
fi
echo "tinyml: installing system packages for the tests: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}"
