# The virtual board: MicroPython's unix port started by `tinyml sim`.
# The LED records every duty change to $TINYML_SIM_DIR/pwm.trace as little-endian
# (uint32 ticks_us, uint32 duty_u16) records the host reads. The I2C bus holds
# register-level fakes of the board's sensors (tinyml_sim.devices).
import os
import struct
import time

PLATFORM = "sim"
FIRMWARE_MODULES = ("bmi270",)  # the frozen drivers the virtual board stands in for
_DEFAULT_BOARD = "nano33_ble_sense"
_ENODEV = 19  # what machine.I2C raises for an address nobody answers


def board_id(boards):
    board = os.getenv("TINYML_BOARD") or _DEFAULT_BOARD
    if board not in boards:
        raise ValueError("TINYML_BOARD=%r is not a board in boards.json" % board)
    return board


class SimPWM:
    def __init__(self, pin, active_low, trace_path):
        self.pin = pin
        self.active_low = active_low
        self._duty = 0
        self._record = bytearray(8)
        self._trace = open(trace_path, "ab") if trace_path else None

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        value = 0 if value < 0 else 65535 if value > 65535 else int(value)
        self._duty = value
        if self._trace:
            struct.pack_into("<II", self._record, 0, time.ticks_us() & 0xFFFFFFFF, value)
            self._trace.write(self._record)
            self._trace.flush()
        return None


def led(led_facts):
    sim_dir = os.getenv("TINYML_SIM_DIR")
    return SimPWM(led_facts[0], led_facts[2], sim_dir + "/pwm.trace" if sim_dir else None)


class SimI2C:
    """machine.I2C over fake devices {address: device}: the register calls (readfrom_mem_into,
    writeto_mem) and the plain transfers (writeto, readfrom_into) some parts need."""

    def __init__(self, devices):
        self.devices = devices

    def _device(self, addr):
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(_ENODEV)
        return dev

    def scan(self):
        return sorted(self.devices)

    def readfrom_mem_into(self, addr, memaddr, buf):
        self._device(addr).read(memaddr, _raw(buf))

    def readfrom_mem(self, addr, memaddr, nbytes):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf):
        self._device(addr).write(memaddr, buf)

    def writeto(self, addr, buf, stop=True):
        self._device(addr).writeto(buf)
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        self._device(addr).readfrom_into(_raw(buf))

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf)
        return bytes(buf)


def _raw(buf):
    """The bytes of `buf`, as machine.I2C fills them whatever the buffer's type: drivers read into
    array('h') or memoryviews of one, and the fakes work bytewise."""
    if isinstance(buf, bytearray):
        return buf
    import uctypes

    return uctypes.bytearray_at(uctypes.addressof(buf), len(bytes(buf)))


def i2c(bus, power, pullup, sensors):
    from tinyml_sim.devices import FAKES

    devices = {}
    for kind, part, addresses, _, _ in sensors:
        for address, make in zip(addresses, FAKES.get(part, ())):
            devices[address] = make()
    return SimI2C(devices)


def firmware_module(name):
    """A driver module the firmware would have frozen in. The virtual board has none of them;
    it has stand-ins (tinyml_sim/<name>.py) for the few tinyml needs, which drive the
    register fakes the same way the real drivers drive the chips."""
    if name not in FIRMWARE_MODULES:
        raise ImportError("no module named '%s'" % name)
    return __import__("tinyml_sim." + name, None, None, ("x",))


# Every wait is also recorded to $TINYML_SIM_DIR/sleep.trace as little-endian (uint32 ticks_ms
# at its start, uint32 ms slept, uint32 1 for lightsleep or 0 for idle) for the host
# (`tinyml monitor --port sim` reports the duty cycle from it).
_sleep_record = bytearray(12)
_sleep_trace = []


def sleep(ms, light):
    """The unix port's sleep stands for both waits; hal counts the time asleep either way."""
    t0 = time.ticks_ms()
    time.sleep_ms(ms)
    if not _sleep_trace:
        sim_dir = os.getenv("TINYML_SIM_DIR")
        _sleep_trace.append(open(sim_dir + "/sleep.trace", "ab") if sim_dir else None)
    trace = _sleep_trace[0]
    if trace:
        struct.pack_into("<III", _sleep_record, 0, t0, time.ticks_diff(time.ticks_ms(), t0), 1 if light else 0)
        trace.write(_sleep_record)
        trace.flush()


def microphone(mic_facts, block):
    """The simulated board's microphone, whichever kind the board has (tinyml_sim/mic.py)."""
    if mic_facts[0] is None and mic_facts[1] is None:
        raise ValueError("this board has no microphone (boards.json microphone)")
    from tinyml_sim.mic import SimMicrophone

    return SimMicrophone(block)
