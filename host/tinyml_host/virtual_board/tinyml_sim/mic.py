# The virtual board's microphone: what `tinyml sim --mic FILE_OR_DIR` plays in the room.
# The host prepares the sound (tinyml_host/audio.py): $TINYML_SIM_DIR/mic.pcm is every file,
# resampled to 16 kHz mono int16 little-endian and joined in order, and mic.cues holds the first
# sample of each file and the end, one number a line. Without them the room is silent.
#
# Time is real, as for the IMU fakes: the sound starts playing when a microphone first starts
# (the stream's sample 0 at that instant) and goes on at 16 kHz whether anyone listens or not;
# after its end, silence. A capture's sample k is the stream's sample at the capture's start
# plus k. Like the boards' double buffer, two complete blocks wait for the app; when it is later
# than that, the oldest are dropped and counted in `lost`. cue() plays one file from now (what
# `tinyml record` does at each prompt, as a person speaking when asked).
import os
import time

RATE_HZ = 16000
BUFFERS = 2


class _Room:
    started = False
    t0_ms = 0        # ticks_ms when `base` played
    base = 0         # stream sample playing at t0_ms
    end = -1         # stream sample where the sound stops (-1: the end of the stream)
    next_cue = 0


def _path(name):
    sim = os.getenv("TINYML_SIM_DIR")
    return sim + "/" + name if sim else None


def cues():
    """First sample of each file in the stream, then its end; () when nothing plays."""
    path = _path("mic.cues")
    try:
        with open(path) as f:
            return tuple(int(line) for line in f.read().split())
    except (OSError, TypeError):
        return ()


def cue(index=None):
    """Play file `index` (default: the one after the last cued) from now, then silence; past
    the last file, silence. Returns the index played, or None."""
    marks = cues()
    if index is None:
        index = _Room.next_cue
    _Room.next_cue = index + 1
    _Room.started = True
    _Room.t0_ms = time.ticks_ms()
    if 0 <= index < len(marks) - 1:
        _Room.base, _Room.end = marks[index], marks[index + 1]
        return index
    _Room.base = _Room.end = 0
    return None


def playing_now():
    """The stream sample playing now (the sound starts at the first call)."""
    if not _Room.started:
        _Room.started = True
        _Room.t0_ms = time.ticks_ms()
    return _Room.base + time.ticks_diff(time.ticks_ms(), _Room.t0_ms) * (RATE_HZ // 1000)


class SimMicrophone:
    RATE_HZ = RATE_HZ

    def __init__(self, block):
        self.block = block
        self.lost = 0
        self._period_us = block * 1000000 // RATE_HZ   # exact: blocks are an even number of samples
        self._pos = 0
        self._due = 0
        self._end = 0
        self._file = None
        self._running = False

    def start(self):
        if self._running:
            return
        path = _path("mic.pcm")
        if self._file is None and path:
            try:
                self._file = open(path, "rb")
            except OSError:
                self._file = None
        self._pos = playing_now()
        self._end = _Room.end
        self._due = time.ticks_add(time.ticks_us(), self._period_us)
        self.lost = 0
        self._running = True

    def stop(self):
        self._running = False

    def readinto(self, buf):
        block = self.block
        if len(buf) != block:
            raise ValueError("microphone readinto needs an array('h') of %d samples, got %d" % (block, len(buf)))
        if not self._running:
            raise ValueError("microphone not started: call start() first")
        wait = time.ticks_diff(self._due, time.ticks_us())
        if wait > 0:
            time.sleep_us(wait)
        else:
            behind = -wait // self._period_us   # complete blocks after this one
            if behind >= BUFFERS:
                drop = behind - (BUFFERS - 1)
                self.lost += drop
                self._pos += drop * block
                self._due = time.ticks_add(self._due, drop * self._period_us)
        got = 0
        if self._file is not None:
            self._file.seek(2 * self._pos)
            got = (self._file.readinto(buf) or 0) // 2
        if self._end >= 0 and self._pos + got > self._end:   # a cued file ends here
            got = self._end - self._pos if self._end > self._pos else 0
        for k in range(got, block):
            buf[k] = 0
        self._pos += block
        self._due = time.ticks_add(self._due, self._period_us)
        return block
