# MicroPython on a real board: machine.PWM on the LED pin, machine.I2C on the sensor bus.
# machine is imported where it is used: the unix port has a `machine` module without Pin, PWM
# or I2C, and it must still get as far as "unsupported board" (and to its BLE stack, if any).
import os
import sys
from array import array

PLATFORM = "micropython"
_PWM_HZ = 1000


def board_id(boards):
    from tinyml.hal import longest_match
    try:
        name = os.uname().machine
    except AttributeError:  # ports without os.uname (unix) say the same in sys.implementation
        name = sys.implementation._machine
    return longest_match(name, boards, "machine")


class _ActiveLowPWM:
    """An LED wired to the supply: 0 duty is full brightness, so invert."""

    def __init__(self, pwm):
        self._pwm = pwm

    def duty_u16(self, value=None):
        if value is None:
            return 65535 - self._pwm.duty_u16()
        self._pwm.duty_u16(65535 - value)


def led(led_facts):
    from machine import PWM, Pin

    pin, _, active_low, _ = led_facts
    pwm = PWM(Pin(pin), freq=_PWM_HZ, duty_u16=65535 if active_low else 0)
    return _ActiveLowPWM(pwm) if active_low else pwm


def i2c(bus, power, pullup, sensors):
    from machine import I2C, Pin

    # Sensor power and bus pull-ups first (the Nano's firmware already sets them; harmless twice).
    for switch in (power, pullup):
        if switch is not None:
            Pin(switch[0], Pin.OUT, value=1)
    bus_id, scl, sda, _, _, freq = bus
    return I2C(bus_id, scl=Pin(scl), sda=Pin(sda), freq=freq)


def firmware_module(name):
    """A driver the firmware freezes in (e.g. `bmi270` on the Nano 33 BLE Sense)."""
    return __import__(name)


def sleep(ms, light):
    """machine.lightsleep(ms) (timed on esp32 and rp2; boards.json says where) or time.sleep_ms."""
    if light:
        import machine

        machine.lightsleep(ms)
    else:
        import time

        time.sleep_ms(ms)  # type: ignore[attr-defined]


# --- the microphone: an I2S MEMS microphone (INMP441) through machine.I2S, or the nRF52840's -----
# --- PDM microphone through _tinyml's capture ------------------------------------------------
# The INMP441 sends 24-bit two's complement samples, MSB first, in 32-bit I2S slots (64 clocks
# per frame; with L/R tied to GND it talks in the left slot, which I2S.MONO keeps). So the port
# reads bits=32: each sample arrives as a little-endian int32 with the 24 bits at the top, and
# its int16 is the slot's upper half. Reading that half as the odd element of an array('h') over
# the same bytes gives it without shifting 32-bit values, which on a 32-bit port are big ints
# (heap) above 2**30.
_SLOT_BYTES = 4
_IBUF_BLOCKS = 4      # the driver's own DMA ring, in blocks: it covers the app while no readinto is armed


def microphone(mic_facts, block):
    mp = mic_facts[0]
    if mp is None:
        raise ValueError("this board has no microphone under MicroPython (boards.json microphone)")
    if mp[0] == "pdm":
        try:
            import _tinyml
        except ImportError:
            _tinyml = None
        if not hasattr(_tinyml, "pdm_start"):  # only firmware built for the nRF52840 has it
            raise ValueError("this board's PDM microphone needs _tinyml's nRF52840 PDM capture, which this "
                             "firmware does not have (MicroPython's ports have no PDM driver)")
        return PDMMicrophone(mp, block, _tinyml)
    return I2SMicrophone(mp, block)


class PDMMicrophone:
    """The nRF52840's PDM peripheral through _tinyml (native/core/tml_pdm.h): EasyDMA fills two
    buffers in turn, 16 kHz mono int16; readinto waits for the next full one and copies it.
    lost: blocks the app did not read in time (exact while it reads at least once per block,
    a lower bound when it is away longer: the capture is polled, not interrupt-driven)."""

    RATE_HZ = 16000

    def __init__(self, mp_facts, block, native):
        if block < 2 or block % 2:
            raise ValueError("the PDM microphone's block must be an even number of samples, got %d" % block)
        self.block = block
        self.lost = 0
        self._facts = mp_facts
        self._native = native
        # the DMA buffers; word-aligned as EasyDMA needs (array data comes from the heap)
        self._dma = (array("h", bytes(2 * block)), array("h", bytes(2 * block)))
        self._running = False

    def start(self):
        if self._running:
            return
        _, clock, data, power = self._facts
        self._native.pdm_start(self._dma[0], self._dma[1], clock, data, -1 if power is None else power)
        self.lost = 0
        self._running = True

    def stop(self):
        if self._running:
            self._native.pdm_stop()
            self._running = False

    def readinto(self, buf):
        if len(buf) != self.block:
            raise ValueError("microphone readinto needs an array('h') of %d samples, got %d" % (self.block, len(buf)))
        if not self._running:
            raise ValueError("microphone not started: call start() first")
        self.lost = self._native.pdm_read(buf)
        return self.block


class I2SMicrophone:
    """machine.I2S in non-blocking mode with two buffers: the driver fills one (irq when full)
    while the app converts the other. States per buffer: filling (the driver has it), full
    (waiting for the app), reading (the app converts it), free."""

    RATE_HZ = 16000

    def __init__(self, mp_facts, block):
        self.block = block
        self.lost = 0
        self._facts = mp_facts
        self._raw = (array("h", bytes(_SLOT_BYTES * block)), array("h", bytes(_SLOT_BYTES * block)))
        self._i2s = None
        self._filling = 0
        self._full = -1
        self._reading = -1
        self._stalled = False
        self._idle = None
        self._handler = self._filled  # one bound method, made here: irq() keeps it, nothing per block

    def start(self):
        from machine import I2S, Pin, idle

        if self._i2s is not None:
            return
        _, bus, sck, ws, sd = self._facts
        self._i2s = I2S(bus, sck=Pin(sck), ws=Pin(ws), sd=Pin(sd), mode=I2S.RX, bits=32, format=I2S.MONO,
                        rate=self.RATE_HZ, ibuf=_IBUF_BLOCKS * _SLOT_BYTES * self.block)
        self._i2s.irq(self._handler)   # from now on readinto returns at once; _filled says when
        self._idle = idle              # an import inside readinto would allocate on every block
        self.lost = 0
        self._full = self._reading = -1
        self._stalled = False
        self._arm(0)

    def stop(self):
        if self._i2s is not None:
            self._i2s.deinit()
            self._i2s = None

    def _arm(self, i):
        self._filling = i
        self._i2s.readinto(self._raw[i])

    def _filled(self, _i2s):
        # Runs from MicroPython's scheduler, between the app's bytecodes (never inside the
        # straight-line handoff in readinto, which has no call or jump where it could run).
        done = self._filling
        other = 1 - done
        if self._full == other:       # the block before was never read: drop it, reuse its buffer
            self.lost += 1
            self._full = done
            self._arm(other)
        elif self._reading == other:  # the app converts it: arm it when the app is done
            self._full = done
            self._stalled = True
        else:
            self._full = done
            self._arm(other)

    def readinto(self, buf):
        if len(buf) != self.block:
            raise ValueError("microphone readinto needs an array('h') of %d samples, got %d" % (self.block, len(buf)))
        if self._i2s is None:
            raise ValueError("microphone not started: call start() first")
        while self._full < 0:
            self._idle()   # the CPU waits for an interrupt; the scheduler runs _filled
        i = self._full
        self._reading = i
        self._full = -1
        raw = self._raw[i]
        for k in range(self.block):
            buf[k] = raw[2 * k + 1]
        self._reading = -1
        if self._stalled:
            self._stalled = False
            self._arm(i)
        return self.block
