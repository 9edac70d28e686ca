# The virtual board's `vfs` module, with a ROMFS partition. Runs in MicroPython (the unix
# port under `tinyml sim`), never in CPython, and never ships to a board: the sim's boot code
# imports it and installs it as sys.modules["vfs"].
#
# The unix port's vfs has VfsRom but no rom_ioctl. Here the partition is presented the way
# the nrf, rp2 and esp32 ports present theirs (MicroPython's ports/nrf/modules/nrf/flashbdev.c,
# ports/rp2/rp2_flash.c, ports/esp32/esp32_partition.c): rom_ioctl(1) counts partitions,
# rom_ioctl(2, 0) returns a block device whose buffer is the flash, with ioctl (block count
# 4, block size 5, erase 6), readblocks and writeblocks. mpremote's `romfs query` and
# `romfs deploy` use exactly these. Flash behaves as NOR flash: erase sets bytes to 0xFF,
# a write can only clear bits. Every change also goes to the image file on the host, so
# the partition outlives soft and hard resets as flash does.
import vfs as _vfs
from micropython import const

VfsRom = _vfs.VfsRom
VfsPosix = _vfs.VfsPosix
mount = _vfs.mount
umount = _vfs.umount
for _name in ("VfsFat", "VfsLfs1", "VfsLfs2"):
    if hasattr(_vfs, _name):
        globals()[_name] = getattr(_vfs, _name)
del _name

_BLOCK = const(4096)
_EINVAL = const(22)
_EIO = const(5)


class Flash(bytearray):
    """The ROMFS partition: its bytes are the buffer VfsRom maps; writes reach the image file."""

    def attach(self, image):
        self._image = image  # opened r+b by the boot code, before / became the board's flash

    def __repr__(self):
        return "Flash(romfs, len=%d)" % len(self)

    def _persist(self, start, end):
        self._image.seek(start)
        self._image.write(memoryview(self)[start:end])
        self._image.flush()

    def _check(self, addr, n):
        if addr < 0 or addr + n > len(self):
            raise ValueError("ROMFS partition is %d bytes: writing %d bytes at offset %d would end at %d"
                             " (the image is too big for the partition)" % (len(self), n, addr, addr + n))

    def ioctl(self, op, arg):
        if op in (1, 2, 3):  # init, deinit, sync
            return 0
        if op == 4:
            return len(self) // _BLOCK
        if op == 5:
            return _BLOCK
        if op == 6:
            addr = arg * _BLOCK
            if arg < 0 or addr >= len(self):
                return -_EIO
            mv = memoryview(self)
            for i in range(addr, addr + _BLOCK):
                mv[i] = 0xFF
            self._persist(addr, addr + _BLOCK)
            return 0
        return None

    def readblocks(self, block, buf, offset=0):
        addr = block * _BLOCK + offset
        self._check(addr, len(buf))
        buf[:] = memoryview(self)[addr:addr + len(buf)]
        return 0

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # the whole-block form erases first, as the nrf port does
            self.ioctl(6, block)
            offset = 0
        addr = block * _BLOCK + offset
        n = len(buf)
        self._check(addr, n)
        mv = memoryview(self)
        for i in range(n):
            mv[addr + i] &= buf[i]  # NOR flash: without an erase, bits only go from 1 to 0
        self._persist(addr, addr + n)
        return 0


_partition = None


def attach(image, size):
    """Make the image file (opened r+b, `size` bytes) the ROMFS partition."""
    global _partition
    _partition = Flash(size)
    image.readinto(_partition)
    _partition.attach(image)


def rom_ioctl(cmd, *args):
    if _partition is None:  # a build without a partition: what the nrf port answers then
        return -_EINVAL
    if cmd == 1:
        return 1
    if not args or args[0] != 0:
        return -_EINVAL
    if cmd == 2:
        return _partition
    return -_EINVAL


def mount_romfs():
    """What MicroPython does at start-up (extmod/vfs.c): mount partition 0 at /rom and put /rom
    and /rom/lib on sys.path; a partition without a valid image is silently skipped."""
    import sys

    if _partition is None:
        return
    try:
        mount(VfsRom(_partition), "/rom")
    except OSError:
        return
    sys.path.append("/rom")
    sys.path.append("/rom/lib")
