# The board's heap inside the unix port's. Runs in MicroPython at the virtual board's power-on
# (the boot code in tinyml_host/sim.py), never in CPython, never on a board.
#
# A board keeps its ROMFS partition in flash and has its sensors, microphone and radio in silicon
# and in the firmware's C; none of them takes a byte of its heap. The virtual board has one place
# for all of them: the unix port's GC heap holds the partition's bytes (tinyml_sim.vfs.Flash) and
# the Python stand-ins listed below. So with a board's heap (`tinyml sim --heap`) the port gets a
# heap large enough for those too, and power_on() loads the stand-ins, then holds back the rest of
# the surplus (the holes their compiling left first, then one block): what is free afterwards is
# what the same port started with only the board's heap has free, in one piece (the host measures
# that figure and passes it in; tests/host/test_sim_heap.py compares both). The one heap is still
# the unix port's, 64-bit: the board's own objects take more of it than on a 32-bit board.
import gc

# Stand-ins for hardware and firmware: sensor chips (register fakes and the motion they play),
# the firmware-frozen driver, the microphone, the BLE stack. tinyml_sim.hal is not among them:
# it stands in for tinyml.hal._machine, which a board loads into its heap too.
STAND_INS = ("tinyml_sim.devices", "tinyml_sim.gestures", "tinyml_sim.bmi270", "tinyml_sim.mic",
             "tinyml_sim.telemetry")
held = None  # what is held back, so that the board's code sees the board's heap


def power_on(board_free=None):
    """Load the stand-ins; with `board_free` (bytes free on the unix port with the board's heap
    alone), hold back all that is free beyond it."""
    global held
    for name in STAND_INS:
        __import__(name)
        gc.collect()  # the next one compiles in what compiling this one left free
    if board_free is None:
        return
    holes = [None] * _MAX_HOLES
    used = gc.mem_alloc()
    probe = bytearray(1)  # a bytearray takes whole GC blocks: one for its object, one or more for its buffer
    block = (gc.mem_alloc() - used) // 2
    del probe
    gc.collect()
    surplus = gc.mem_free() - board_free
    if surplus < 0:
        raise MemoryError("virtual board: its heap has %d bytes less than the board's %d free; "
                          "the sim's headroom (tinyml_host/sim.py SIM_HEADROOM) is too small" % (-surplus, board_free))
    # Compiling the stand-ins left holes among them; held back in one block above them, the free
    # heap would be those holes and a smaller piece, where a board after boot has one piece. So
    # the holes are held first, then one block at the start of the free piece.
    used = gc.mem_alloc()
    _fill_holes(holes, block, surplus)
    gc.collect()
    surplus -= gc.mem_alloc() - used
    size = (surplus - block) // block * block
    held = (holes, bytearray(size) if size > 0 else None)


_MAX_HOLES = 1024


def _fill_holes(holes, block, budget):
    """Fill the free blocks below the largest free piece with bytearrays kept in `holes`, largest
    first, up to `budget` bytes. The GC allocates first fit, from the lowest address."""
    from uctypes import addressof

    gc.collect()
    probe = bytearray(gc.mem_free() // 2)  # larger than any hole: it lands at the free piece's start
    start = addressof(probe)
    del probe
    gc.collect()
    n = 0
    size = 4096
    while size and n < len(holes):
        cost = block + (size + block - 1) // block * block
        while n < len(holes) and budget >= cost:
            chunk = bytearray(size)
            if addressof(chunk) >= start:
                break
            holes[n] = chunk
            n += 1
            budget -= cost
        chunk = None
        gc.collect()
        size //= 4
