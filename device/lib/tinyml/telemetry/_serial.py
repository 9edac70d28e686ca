# Telemetry over the REPL's own serial line (USB serial, or the virtual board's pty): text
# frames written to stdout, command lines read from stdin without blocking. Chosen explicitly,
# telemetry.start(link="serial") or apps.run(NAME, telemetry="serial"): `tinyml monitor --port`
# runs an app that way through the raw REPL. A byte stream keeps no frame boundaries, so text
# frames only; the host is always there, so nothing is dropped for want of a listener.
import sys

from micropython import const

_READ_MAX = const(64)  # bytes taken from stdin per read(); the rest waits for the next poll


def _poller():
    """A function telling whether stdin has a byte waiting, or None where the port cannot say
    (then no commands are read: a blocking read would stall the app)."""
    try:
        import select

        poll = select.poll()
        poll.register(sys.stdin, select.POLLIN)
        ipoll = getattr(poll, "ipoll", None)  # MicroPython: allocation-free
        if ipoll is not None:
            def ready():
                for _ in ipoll(0):
                    return True
                return False
        else:
            def ready():
                return bool(poll.poll(0))
        return ready
    except (ImportError, AttributeError, OSError):
        pass
    try:
        import supervisor  # CircuitPython

        runtime = supervisor.runtime
        return lambda: runtime.serial_bytes_available
    except (ImportError, AttributeError):
        return None


class Link:
    def __init__(self, name):
        self.name = name
        self._out = getattr(sys.stdout, "buffer", sys.stdout)
        self._in = getattr(sys.stdin, "buffer", None)  # bytes; CircuitPython's stdin gives str
        self._ready = _poller()
        self._buf = bytearray(_READ_MAX)
        self._view = memoryview(self._buf)

    def connected(self):
        return True

    def notify(self, chunk):
        self._out.write(chunk)
        return True

    def read(self):
        """The bytes stdin holds now (up to 64), or None when it holds none."""
        ready = self._ready
        n = 0
        while ready is not None and n < _READ_MAX and ready():
            if self._in is not None:
                got = self._in.read(1)
            else:
                got = sys.stdin.read(1).encode()
            if not got:
                break
            self._buf[n] = got[0]
            n += 1
        return self._view[:n] if n else None
