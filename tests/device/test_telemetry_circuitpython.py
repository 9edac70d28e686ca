"""Telemetry's CircuitPython backend: the real adafruit_ble library (PyPI
adafruit-circuitpython-ble) in CPython over a fake of CircuitPython's native `_bleio`
(tests/device/fakes/_bleio.py, put in sys.modules ahead of adafruit-blinka-bleio's), and the
backend type-checked with mypy against circuitpython-stubs."""

import importlib
import importlib.util
import random
import shutil
import struct
import subprocess
import sys
import types
from pathlib import Path

import pytest

from adverts import NAMES, ad_structures, check_name_fields
from mpy import DEVICE_LIB

FAKES = Path(__file__).parent / "fakes"
NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_SERVICE_LE = bytes.fromhex(NUS_SERVICE.replace("-", ""))[::-1]


def _drop_modules():
    for name in [m for m in sys.modules if m.split(".")[0] in ("tinyml", "adafruit_ble", "_bleio")]:
        del sys.modules[name]


@pytest.fixture
def cp(monkeypatch):
    """(the fake _bleio, tinyml.telemetry, its _adafruit_ble backend), imported as on CircuitPython."""
    _drop_modules()
    spec = importlib.util.spec_from_file_location("_bleio", FAKES / "_bleio.py")
    bleio = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bleio)
    monkeypatch.setitem(sys.modules, "_bleio", bleio)
    monkeypatch.setitem(sys.modules, "micropython", types.SimpleNamespace(const=lambda v: v))
    monkeypatch.syspath_prepend(str(DEVICE_LIB))
    telemetry = importlib.import_module("tinyml.telemetry")
    backend = importlib.import_module("tinyml.telemetry._adafruit_ble")
    import adafruit_ble

    assert adafruit_ble._bleio is bleio   # the library runs on the fake, not on blinka's _bleio
    yield bleio, telemetry, backend
    _drop_modules()


def tx(bleio):
    return [e[2] for e in bleio.log if e[0] == "notify" and e[1] == repr(bleio.UUID(NUS_TX))]


def adverts(bleio):
    return [(e[1], e[2]) for e in bleio.log if e[0] == "advertise"]


def connect(bleio):
    bleio.connect()
    bleio.subscribe(NUS_TX)


def text_frame(seq, values):
    return ("%d," % seq + ",".join("%.4g" % v for v in values) + "\n").encode()


def chunks(data):
    return [data[i:i + 20] for i in range(0, len(data), 20)]


def replies(bleio):
    return b"".join(tx(bleio)).decode().splitlines()


def test_advertises_nus_and_the_name(cp):
    bleio, telemetry, backend = cp
    t = telemetry.Telemetry(backend.Link("tinyml-sine"))
    # adafruit_ble's ProvideServicesAdvertisement: the 128-bit UUID list (0x06, "incomplete"),
    # the flags, then the name as far as it fits (8 bytes: shortened, 0x08); the scan response
    # the complete name (0x09) and the TX power field (0x0A) BLERadio's default one has
    assert adverts(bleio) == [(b"\x11\x06" + NUS_SERVICE_LE + b"\x02\x01\x06" + b"\x09\x08tinyml-s",
                               b"\x0c\x09tinyml-sine\x02\x0a\x00")]
    assert bleio.adapter.name == "tinyml-sine" and not t.connected


@pytest.mark.parametrize("name", NAMES)
def test_advertising_carries_the_uuid_and_as_much_of_the_name_as_fits(cp, name):
    bleio, telemetry, backend = cp
    backend.Link(name)
    ((adv, resp),) = adverts(bleio)
    # the scan response keeps BLERadio's TX power field (3 bytes): 26 bytes of name fit there
    check_name_fields(name, adv, resp, uuid_type=0x06, resp_room=26)
    assert dict(ad_structures(resp))[0x0A] == b"\x00"
    assert bleio.adapter.name == name      # the GAP device name is the whole name


@pytest.mark.parametrize("binary", [False, True])
def test_a_central_listens_from_its_subscription_to_its_unsubscription_or_disconnect(cp, binary):
    bleio, telemetry, backend = cp
    t = telemetry.Telemetry(backend.Link("tinyml"), binary=binary)

    def show(what):
        return t.connected, t.listening, t.send((len(what),))

    assert show("nobody") == (False, False, False)
    bleio.connect()
    assert show("connected") == (True, False, False)       # CCCD not written yet: dropped
    bleio.subscribe(NUS_TX)
    assert show("subscribed") == (True, True, True)
    bleio.subscribe(NUS_TX, False)
    assert show("unsubscribed") == (True, False, False)
    bleio.subscribe(NUS_TX)
    assert show("again") == (True, True, True)
    bleio.disconnect()
    assert show("gone") == (False, False, False)
    bleio.connect()
    assert show("back") == (True, False, False)            # a new connection subscribes anew
    bleio.subscribe(NUS_TX)
    assert show("back subscribed") == (True, True, True)
    sent = [(3, 10), (5, 5), (8, 15)]
    if binary:
        assert tx(bleio) == [struct.pack("<BHBf", 0xA5, seq, 1, n) for seq, n in sent]
    else:
        assert tx(bleio) == [text_frame(seq, (n,)) for seq, n in sent]
    assert (t.seq, t.sent, t.dropped) == (8, 3, 5)


def test_the_subscription_probe_is_a_packet_buffer_made_before_advertising(cp):
    bleio, telemetry, backend = cp
    link = backend.Link("tinyml")
    (probe,) = bleio._packet_buffers
    assert probe._characteristic.uuid == bleio.UUID(NUS_TX)
    assert [e[0] for e in bleio.log[:probe._made_at]] == [] and adverts(bleio)   # made, then advertising
    bleio.connect()
    bleio.subscribe(NUS_TX)
    # a PacketBuffer made after the CCCD write never saw it (CircuitPython's too): ours was first
    late = bleio.PacketBuffer(probe._characteristic, buffer_size=1)
    with pytest.raises(ValueError, match="No connection"):
        late.outgoing_packet_length
    assert probe.outgoing_packet_length == 20 and link.listening()


@pytest.mark.parametrize("binary", [False, True])
def test_frames_are_notified_in_20_byte_chunks(cp, binary):
    bleio, telemetry, backend = cp
    t = telemetry.Telemetry(backend.Link("tinyml"), binary=binary)
    frames = [(1.5, -2.25, 0.125, 40000), (0.0,), (3, -0.5), (100.3125, 7, -1e-3, 0.0625)]
    connect(bleio)
    assert t.connected and [t.send(v) for v in frames] == [True] * 4
    expected = []
    for seq, v in enumerate(frames, 1):
        if binary:
            expected.append(struct.pack("<BHB%df" % len(v), 0xA5, seq, len(v), *v))
        else:
            expected += chunks(text_frame(seq, v))
    assert tx(bleio) == expected
    assert (t.sent, t.dropped) == (4, 0)


def test_drops_while_disconnected_or_when_the_write_raises(cp):
    bleio, telemetry, backend = cp
    t = telemetry.Telemetry(backend.Link("tinyml"))
    assert t.send((1,)) is False
    connect(bleio)
    assert t.send((2,)) is True
    for error in (bleio.BluetoothError("Unknown soft device error: 0013"), bleio.ConnectionError("Connection lost"),
                  MemoryError()):
        bleio.notify_error = error
        assert t.send((3,)) is False
    bleio.notify_error = None
    assert t.send((6,)) is True
    assert tx(bleio) == [text_frame(2, (2,)), text_frame(6, (6,))]
    assert (t.seq, t.sent, t.dropped) == (6, 2, 4)


def test_rx_commands_and_fuzz(cp):
    bleio, telemetry, backend = cp
    t = telemetry.Telemetry(backend.Link("tinyml"))
    got = []
    t.on_command(lambda name, arg: got.append((name, arg)))
    connect(bleio)
    for data in (b"rate 25\n", b"rate 5\nled on\napp x\n", b"le", b"d off\n", b"", b"\xff\xfe\n", b"\n",
                 b"x" * 20, b"x" * 20, b"x" * 20, b"x" * 20, b"\n"):
        bleio.write(NUS_RX, data)
        t.poll()
    assert got == [("rate", 25), ("rate", 5), ("led", "on"), ("led", "off")]
    assert replies(bleio) == ["OK rate", "OK rate", "OK led", "ERR usage: app sine|motion|gesture|record", "OK led",
                              "ERR command is not text", "ERR expected 'name argument', got ''",
                              "ERR command too long"]
    rng = random.Random(6)
    bleio.log.clear()
    stream = bytes(rng.choice(b"rate led on off 7 \n\xff\x00") for _ in range(3000)) + b"\n"
    for i in range(0, len(stream), 20):
        bleio.write(NUS_RX, stream[i:i + 20])
        if rng.random() < 0.5:
            t.poll()
    t.poll()
    lines = replies(bleio)
    assert len(lines) == stream.count(b"\n") and all(r.startswith(("OK ", "ERR ")) for r in lines)


def test_reconnect_restarts_advertising_and_seq_keeps_counting(cp):
    bleio, telemetry, backend = cp
    t = telemetry.Telemetry(backend.Link("tinyml"))
    connect(bleio)
    for i in range(3):
        t.send((i,))
    bleio.disconnect()
    assert not t.connected and bleio.adapter.advertising and len(adverts(bleio)) == 2
    t.send((3,))
    t.poll()
    assert len(adverts(bleio)) == 2      # advertising once is enough: no "Already advertising."
    connect(bleio)
    t.send((4,))
    assert tx(bleio) == [text_frame(s, (s - 1,)) for s in (1, 2, 3, 5)]
    assert (t.seq, t.sent, t.dropped) == (5, 4, 1)


def test_start_picks_adafruit_ble_on_circuitpython(cp, monkeypatch):
    bleio, telemetry, backend = cp
    hal = types.SimpleNamespace(PLATFORM="circuitpython", board_id=lambda: "nano33_ble_sense_rev2")
    monkeypatch.setitem(sys.modules, "tinyml.hal", hal)
    monkeypatch.setattr(sys.modules["tinyml"], "hal", hal, raising=False)
    t = telemetry.start("tinyml-sine", binary=True)
    assert isinstance(t.link, backend.Link) and t.binary
    hal.board_id = lambda: "pico_w"
    with pytest.raises(ValueError, match="no BLE on pico_w with circuitpython"):
        telemetry.start("tinyml-sine")


def test_backend_type_checks_against_circuitpython_stubs(tmp_path):
    # adafruit_ble ships inline annotations but no py.typed: a copy with one lets mypy check our
    # calls into it; _bleio comes from circuitpython-stubs
    import adafruit_ble

    lib = tmp_path / "lib"
    shutil.copytree(Path(adafruit_ble.__file__).parent, lib / "adafruit_ble",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (lib / "adafruit_ble" / "py.typed").write_text("")
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nfollow_imports = silent\nmypy_path = {lib}\n")
    files = ["tinyml/telemetry/__init__.py", "tinyml/telemetry/_adafruit_ble.py"]
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config), "--python-version", "3.11",
                           "--no-incremental", "--cache-dir=/dev/null", *files], cwd=DEVICE_LIB,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and a misuse is caught, or the check proves nothing
    bad = tmp_path / "bad.py"
    bad.write_text("from adafruit_ble.services.nordic import UARTService\nUARTService().write('text')\n"
                   "import _bleio\n_bleio.adapter.start_advertising(b'', interval='fast')\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental",
                           "--cache-dir=/dev/null", str(bad)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "write" in proc.stdout and "interval" in proc.stdout, proc.stdout


def test_the_listening_command_is_answered_and_the_cccd_decides(cp):
    # tinyml's centrals write `listening` after enabling notifications (docs/telemetry.md,
    # "Listening"). CircuitPython's PacketBuffer has seen the CCCD write by then, so the command
    # changes nothing here: a command alone starts nothing (UARTService.write would skip the
    # central silently and the frame would count as sent), a CCCD write of 0 ends listening.
    bleio, telemetry, backend = cp
    t = telemetry.Telemetry(backend.Link("tinyml"))
    got = []
    t.on_command(lambda name, arg: got.append(name))

    def tell():
        bleio.write(NUS_RX, b"listening\n")
        t.poll()
        return t.listening, t.send((1,))

    bleio.connect()
    assert tell() == (False, False)           # not subscribed: no reply either (nobody listens)
    bleio.subscribe(NUS_TX)
    assert tell() == (True, True)
    bleio.subscribe(NUS_TX, False)
    assert (t.listening, t.send((2,))) == (False, False)
    assert tell() == (False, False)
    bleio.subscribe(NUS_TX)
    bleio.disconnect()
    assert not t.connected                    # and advertising again (adafruit_ble: at this look)
    bleio.connect()
    assert tell() == (False, False)           # a new connection subscribes anew
    assert replies(bleio) == ["OK listening", "2,1"] and got == []
    assert (t.seq, t.sent, t.dropped) == (5, 1, 4)
