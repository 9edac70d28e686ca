# A fake of MicroPython's machine.Pin and machine.PWM API surface, recording calls.
# Stricter than real ports where they differ: it rejects what some port would reject.
log = []


class Pin:
    OUT = 1
    IN = 0

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        if not isinstance(id, (int, str)):
            raise TypeError("Pin id must be int or str")
        self.id = id
        self.mode = mode
        self._value = value
        log.append(("Pin", id) if value is None else ("Pin", id, mode, value))

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = v


class PWM:
    def __init__(self, dest, *, freq=None, duty_u16=None, duty_ns=None, invert=False):
        if not isinstance(dest, Pin):
            raise TypeError("PWM needs a Pin")
        self.pin = dest
        self._freq = freq
        self._duty = 0
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        log.append(("PWM", dest.id, freq))

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        if not isinstance(value, int) or not 0 <= value <= 65535:
            raise ValueError("duty_u16 must be an int in 0..65535")
        self._duty = value
        log.append(("duty_u16", self.pin.id, value))

    def deinit(self):
        log.append(("deinit", self.pin.id))


class I2C:
    """machine.I2C(id, *, scl, sda, freq=400000, timeout=50000) over {address: register device}."""

    devices = {}

    def __init__(self, id, *, scl=None, sda=None, freq=400000, timeout=50000):
        if not isinstance(scl, Pin) or not isinstance(sda, Pin):
            raise TypeError("scl and sda must be Pin objects")
        self.id, self.scl, self.sda, self.freq = id, scl, sda, freq
        log.append(("I2C", id, scl.id, sda.id, freq))

    def _device(self, addr):
        if addr not in self.devices:
            raise OSError(19)  # ENODEV, as ports raise for an address nobody acknowledges
        return self.devices[addr]

    def scan(self):
        return sorted(self.devices)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).read(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).write(memaddr, buf)

    def writeto(self, addr, buf, stop=True):
        self._device(addr).writeto(buf)
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        self._device(addr).readfrom_into(buf)

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf)
        return bytes(buf)


class I2S:
    """machine.I2S(id, *, sck, ws, sd, mck=None, mode, bits, format, rate, ibuf), receive side,
    as MicroPython's docs (library/machine.I2S) describe it: readinto(buf) blocks until buf is
    full, or, once irq(handler) is set, returns at once and handler(i2s) runs from the scheduler
    when buf is full. The microphone is `source(n)`, the 32-bit slot value of sample n (a test
    sets it). Time is the fake's: each idle() (or dma()) is one buffer's worth of capture."""

    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1
    source = staticmethod(lambda n: 0)
    live = []

    def __init__(self, id, *, sck, ws, sd, mck=None, mode, bits, format, rate, ibuf):
        for name, pin in (("sck", sck), ("ws", ws), ("sd", sd)):
            if not isinstance(pin, Pin):
                raise TypeError("%s must be a Pin" % name)
        if mode not in (I2S.RX, I2S.TX):
            raise ValueError("invalid mode")
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        if format not in (I2S.MONO, I2S.STEREO):
            raise ValueError("invalid format")
        if not isinstance(rate, int) or rate <= 0:
            raise ValueError("invalid rate")
        if not isinstance(ibuf, int) or ibuf <= 0:
            raise ValueError("invalid ibuf")
        self.id, self.pins, self.mode, self.bits, self.format, self.rate, self.ibuf = (
            id, (sck.id, ws.id, sd.id), mode, bits, format, rate, ibuf)
        self.handler = None
        self.pending = None   # the byte view of the buffer a non-blocking readinto is filling
        self.sample = 0       # the next sample the "DMA" delivers
        self.deinited = False
        self._views = {}
        I2S.live.append(self)
        log.append(("I2S", id, sck.id, ws.id, sd.id, mode, bits, format, rate, ibuf))

    def _bytes(self, buf):
        # A byte view of the caller's buffer, made once per buffer: whatever its type, the port
        # writes bytes (little-endian samples), and the fake must not allocate per block either.
        view = self._views.get(id(buf))
        if view is None:
            import uctypes

            view = uctypes.bytearray_at(uctypes.addressof(buf), len(bytes(buf)))
            self._views[id(buf)] = view
        return view

    def _fill(self, view):
        width = self.bits // 8
        for k in range(len(view) // width):
            v = I2S.source(self.sample)
            for b in range(width):
                view[k * width + b] = (v >> (8 * b)) & 0xFF
            self.sample += 1

    def readinto(self, buf):
        if self.mode != I2S.RX:
            raise OSError("I2S not configured for read")
        view = self._bytes(buf)
        if self.handler is None:
            self._fill(view)
        else:
            self.pending = view
        return len(view)

    def irq(self, handler):
        self.handler = handler

    def deinit(self):
        self.deinited = True
        self.pending = None
        if self in I2S.live:
            I2S.live.remove(self)
        log.append(("I2S.deinit", self.id))

    def dma(self):
        """One buffer's worth of time: the pending buffer is filled and the handler scheduled."""
        if self.pending is not None:
            view, self.pending = self.pending, None
            self._fill(view)
            import micropython

            micropython.schedule(self.handler, self)


def idle():
    """machine.idle(): the CPU waits for an interrupt; here, each live I2S captures one buffer."""
    for i2s in I2S.live:
        i2s.dma()
