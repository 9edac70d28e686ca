"""Aligned ROMFS images: they mount with MicroPython's own VfsRom, read back byte-identical,
and every file's data starts at a multiple of 4 in the image (mpremote's builder: not so)."""

import ast
import hashlib
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tinyml_host import romfs
from tinyml_host.errors import TinymlError
from tinyml_host.sim import find_micropython

# Runs in the micropython binary: mount the image, then for every file its data offset in
# the image (the address of the file's memoryview minus the image's) and its sha256.
_PROBE = """
import vfs, os, uctypes, hashlib, binascii
img = open(%(image)r, 'rb').read()
vfs.mount(vfs.VfsRom(img), '/rom')
base = uctypes.addressof(img)
out = {}
def walk(d):
    for name, kind, *_ in os.ilistdir(d):
        p = d + '/' + name
        if kind == 0x4000:
            walk(p)
        else:
            mv = memoryview(open(p, 'rb'))
            data = open(p, 'rb').read()
            out[p[5:]] = ((uctypes.addressof(mv) - base) if len(mv) else None,
                          binascii.hexlify(hashlib.sha256(data).digest()).decode())
walk('/rom')
print(repr(out))
"""


def probe(image: Path) -> dict:
    """{path: (data offset or None when empty, sha256)} as MicroPython's VfsRom sees the image."""
    proc = subprocess.run([find_micropython(), "-c", _PROBE % {"image": str(image)}],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


def sample_files(seed=1) -> dict[str, bytes]:
    rnd = random.Random(seed)
    files = {}
    for i, name in enumerate(["a.tmdl", "b.bin", "model_with_a_long_name.tmdl", "lib/x.py",
                              "lib/deep/y.dat", "z"]):
        files[name] = bytes(rnd.randrange(256) for _ in range(rnd.choice([1, 3, 5, 130, 4099]) + i))
    files["empty.txt"] = b""
    return files


def test_every_file_is_aligned_and_reads_back_identical(tmp_path):
    files = sample_files()
    image, placements = romfs.build(files)
    (tmp_path / "img.romfs").write_bytes(image)
    seen = probe(tmp_path / "img.romfs")
    assert sorted(seen) == sorted(files)
    for name, data in files.items():
        offset, digest = seen[name]
        assert digest == hashlib.sha256(data).hexdigest(), name
        if data:
            assert offset % 4 == 0, f"{name} data at {offset}"
            assert image[offset:offset + len(data)] == data
    # the builder's own account of where data lies agrees with MicroPython's
    assert {p.path: p.offset for p in placements if p.size} == {n: seen[n][0] for n in files if files[n]}
    assert len(image) % 2 == 0  # vfs_rom.c: the filesystem record has an even size


@pytest.mark.parametrize("seed", range(4))
def test_alignment_holds_for_any_file_sizes(seed):
    rnd = random.Random(seed)
    files = {f"f{i}.bin": bytes(rnd.randrange(1, 600)) for i in range(rnd.randrange(1, 12))}
    image, placements = romfs.build(files)
    assert all(p.offset % 4 == 0 for p in placements)
    assert [(p.path, p.offset, p.size) for p in romfs.files(image)] == \
           [(p.path, p.offset, p.size) for p in placements]
    assert romfs.image_size(image) == len(image)


def test_mpremote_builder_does_not_align_which_is_why_this_one_exists(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name, data in sample_files().items():
        if "/" not in name:
            (src / name).write_bytes(data)
    out = tmp_path / "mpremote.romfs"
    subprocess.run([sys.executable, "-m", "mpremote", "romfs", "-o", str(out), "build", str(src)],
                   check=True, capture_output=True, timeout=60)
    offsets = [o for o, _ in probe(out).values() if o is not None]
    assert any(o % 4 for o in offsets), offsets


def test_modules_import_from_an_aligned_image(tmp_path):
    image, _ = romfs.build({"lib/helper.py": b"VALUE = 6 * 7\n"})
    (tmp_path / "img.romfs").write_bytes(image)
    script = ("import vfs, sys\nvfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')\n"
              "sys.path.append('/rom/lib')\nimport helper\nprint(helper.VALUE, helper.__file__)"
              % str(tmp_path / "img.romfs"))
    proc = subprocess.run([find_micropython(), "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["42", "/rom/lib/helper.py"], proc.stderr


@pytest.mark.parametrize("files, problem", [
    ({"../x": b"1"}, "bad file name"),
    ({"caf\u00e9.tmdl": b"1"}, "ASCII"),
    ({"a": b"1", "a/b": b"2"}, "file and a directory"),
])
def test_bad_names_are_refused(files, problem):
    with pytest.raises(TinymlError, match=problem):
        romfs.build(files)


def test_reader_refuses_what_is_not_an_image():
    assert romfs.image_size(b"\xff" * 64) is None
    image, _ = romfs.build({"a": b"12345"})
    with pytest.raises(TinymlError, match="truncated"):
        romfs.files(image[:-4])
