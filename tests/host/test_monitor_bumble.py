"""`tinyml monitor --ble` on a real BLE host stack: the monitor's BleTransport, through a
bleak-compatible central on Bumble (tests/bumble_bleak.py), connects over Bumble's virtual
controllers (tests/bumble_air.py) to a peripheral that plays the board's NUS (tests/bumble_nus.py)
with what the sine app sent in the micropython binary. Real here: HCI between each host stack
and its controller, advertising data, LE connections, ATT/GATT (discovery, CCCD writes,
notifications cut to the ATT MTU, MTU exchange, writes with response), disconnect and reconnect.
Not real: the radio and its timing, the board's own BLE stack (README, "What is tested how")."""

from __future__ import annotations

import asyncio
import binascii
import csv
import struct
import sys

import bumble_bleak
import models
import pytest
from bumble_air import VirtualAir
from bumble_nus import NUS_SERVICE, NUS_TX, NusPeripheral
from device import mpy
from tinyml_host import cli, export, monitor, tmdl
from tinyml_host.monitor import transports

pytestmark = pytest.mark.timeout(120)

# RX commands sent while recording, by the poll (one per frame) that reads them: `listening`
# (what the monitor writes at each connect), valid ones, one the app's parser refuses, one
# longer than a 20-byte write
COMMANDS = {20: "listening", 40: "led off", 60: "rate 100", 80: "led purple", 100: "led offfffffffffffffffffffff", 120: "led on"}
RECORD = """
import binascii
from tinyml import telemetry
from tinyml.apps import sine

COMMANDS = %r

class RecordingLink:
    # a central that is always listening: every notification printed, commands read in
    def __init__(self):
        self.polls = 0
    def connected(self):
        return True
    def notify(self, chunk):
        print('N', binascii.hexlify(chunk).decode())
        return True
    def read(self):
        self.polls += 1
        command = COMMANDS.pop(self.polls, None)
        if command is None:
            return None
        print('C', command)
        return command.encode() + b'\\n'

telemetry.configure(frame_rate_hz=100)
t = telemetry.Telemetry(RecordingLink(), %r)
sine.run(cycles=%d, period_ms=10, telemetry=t, sleep='idle')
print('S', t.sent, t.dropped)
"""
NAME = "tinyml"   # telemetry.start()'s default: name and NUS UUID fit in the advertising data
NAMES = (NAME, "tinyml-sine")


def record(tmp, binary: bool, cycles: int) -> list[tuple[str, str]]:
    """("N", notification hex) and ("C", command) in the order the sine app made them."""
    out = mpy.run(RECORD % (dict(COMMANDS) if not binary else {}, binary, cycles), cwd=tmp)
    lines = [tuple(line.split(" ", 1)) for line in out.splitlines() if line[:2] in ("N ", "C ", "S ")]
    assert lines[-1] == ("S", f"{cycles * 64} 0")   # every frame sent, none dropped
    return lines[:-1]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """frames [(seq, [notifications])], replies {command: [notifications]}, rows {seq: values}
    of the text run; binary [(seq, [notification])] and binary_rows of the binary one. The
    values are read here from the bytes, apart from the monitor's decoder."""
    tmp = tmp_path_factory.mktemp("bumble-recording")
    (tmp / "sine.tmdl").write_bytes(tmdl.encode(export.convert(models.sine_tflite())))
    frames, replies, rows, line, command = [], {}, {}, [], None
    for kind, value in record(tmp, False, 3):
        if kind == "C":
            command = value
            continue
        line.append(binascii.unhexlify(value))
        if not line[-1].endswith(b"\n"):
            continue   # the board sends a line in 20-byte notifications: more to come
        text = b"".join(line).decode()
        if text.startswith(("OK ", "ERR ")):
            replies[command] = line
        else:
            seq, *values = text.strip().split(",")
            frames.append((int(seq), line))
            rows[int(seq)] = [float(v) for v in values]
        line = []
    assert list(replies) == list(COMMANDS.values()) and [seq for seq, _ in frames] == list(range(1, 193))
    assert all(len(c) <= 20 for _, chunks in frames for c in chunks) and any(len(c) > 1 for _, c in frames)
    binary, binary_rows = [], {}
    for _, value in record(tmp, True, 1):
        data = binascii.unhexlify(value)
        mark, seq, n = struct.unpack_from("<BHB", data)
        assert mark == 0xA5 and len(data) == 4 + 4 * n
        binary.append((seq, [data]))
        binary_rows[seq] = list(struct.unpack_from("<%df" % n, data, 4))
    # the advertising bytes the board's telemetry makes for each name used here
    out = mpy.run("import binascii\nfrom tinyml.telemetry import advertising_payloads\n"
                  "for name in %r:\n    adv, resp = advertising_payloads(name)\n"
                  "    print('A', name, binascii.hexlify(adv).decode(), binascii.hexlify(resp).decode() or '-')" % (NAMES,))
    adverts = {name: (binascii.unhexlify(adv), b"" if resp == "-" else binascii.unhexlify(resp))
               for name, adv, resp in (line.split()[1:] for line in out.splitlines() if line.startswith("A "))}
    assert set(adverts) == set(NAMES)
    return {"frames": frames, "replies": replies, "rows": rows, "binary": binary, "binary_rows": binary_rows,
            "adverts": adverts}


@pytest.fixture
def air(monkeypatch):
    monkeypatch.setattr(transports, "RECONNECT_DELAY", 0.05)
    with VirtualAir() as a:
        yield a


def board(air, recording, **options) -> NusPeripheral:
    adverts = recording["adverts"][options.get("name", NAME)]
    return air.run(NusPeripheral(recording["frames"], recording["replies"], adverts, **options).start(air))


def seqs_of(session) -> list[int]:
    return [int(r[0]) for r in session.frames.rows]


def check_rows_equal_recorded(session, rows):
    assert session.frames.rows and session.frames.bad == 0
    for row in session.frames.rows:
        assert row[1:] == pytest.approx(rows[int(row[0])], rel=0, abs=0)


def text_of(chunks) -> str:
    return b"".join(chunks).decode().strip()


# --- discovery ------------------------------------------------------------------------------

def test_the_scanner_finds_the_board_by_name_and_address_from_its_advertising_bytes(air, recording):
    nano = board(air, recording)
    sine = board(air, recording, name="tinyml-sine", address="D4:CA:6E:44:55:66")
    bleak = bumble_bleak.central(air)

    async def scan():
        scanner = bleak.BleakScanner
        return (await scanner.find_device_by_name(NAME, timeout=3),
                await scanner.find_device_by_address("d4:ca:6e:44:55:66", timeout=3),
                await scanner.find_device_by_name("nano-kitchen", timeout=0.3),
                await scanner.find_device_by_name("tinyml-sine", timeout=0.5))

    by_name, by_address, nobody, full_name = asyncio.run(scan())
    assert (by_name.name, by_name.address) == (NAME, nano.address)
    # what the advertisement carried, as the central's controller reported it over HCI
    advertised = bumble_bleak.AdvertisementData(by_name.details)
    assert advertised.service_uuids == [NUS_SERVICE.lower()] and advertised.local_name == NAME
    assert by_name.details.data_bytes == nano.advertising_data == recording["adverts"][NAME][0]
    assert nobody is None
    # "tinyml-sine" does not fit beside the UUID: the advertising data has it shortened, the
    # full name is in the scan response, which Bumble's virtual link does not carry (as for a
    # passive scanner): found by address, under its shortened name
    assert by_address.address == sine.address and by_address.name == "tinyml-s"
    assert full_name is None


# --- streaming, commands, MTU ---------------------------------------------------------------

def test_monitor_streams_the_recorded_frames_in_20_byte_notifications_and_gets_the_replies(air, recording):
    nano = board(air, recording)
    bleak = bumble_bleak.central(air)
    commands = ["led off", "led purple", "led offfffffffffffffffffffff"]
    t = monitor.open_transport(ble=NAME, bleak=bleak)
    session = monitor.watch(t, 1.0, commands, live=False)
    assert bleak.stats.scans == [("name", NAME, 10.0)] and t.label == f"BLE {NAME} ({nano.address})"
    seqs = seqs_of(session)
    assert len(seqs) >= 20 and seqs == list(range(1, len(seqs) + 1)) and session.frames.lost == 0
    check_rows_equal_recorded(session, recording["rows"])
    # the default ATT MTU of 23: no notification longer than 20 bytes reached the host
    assert bleak.stats.mtus == [23] and max(map(len, bleak.stats.received)) == 20
    assert nano.notification_sizes[:len(bleak.stats.received)] == [len(n) for n in bleak.stats.received]
    # each command in writes of at most 20 bytes, each answered with the device code's reply
    # (after `listening`, which the monitor writes once notifications are enabled)
    long = commands[2].encode() + b"\n"
    assert len(long) == 29 and nano.writes == [b"listening\n", b"led off\n", b"led purple\n", long[:20], long[20:]]
    assert nano.unanswered == []
    assert session.frames.replies == [text_of(recording["replies"][c]) for c in commands]
    assert session.frames.replies == ["OK led", "ERR usage: led on|off", "ERR usage: led on|off"]
    assert session.frames.listening_replies == [text_of(recording["replies"]["listening"])] == ["OK listening"]
    # the host subscribed once and hung up at the end (HCI reason 0x13, remote user terminated)
    assert nano.subscriptions == [True] and nano.disconnects == [0x13]
    assert not t.finished and t.error is None


def test_on_nimble_the_board_listens_from_the_monitors_listening_command(air, recording):
    # The board plays NimBLE: it never sees the CCCD write, notifies whatever the CCCD says, and
    # counts a central as listening from its `listening` line. Over real ATT the monitor writes
    # the CCCD (a write with response) and then `listening`, so nothing the board sends is
    # wasted: every notification on the air reaches the monitor, and every frame due before the
    # command is dropped and counted by the board, not sent into the void.
    nano = board(air, recording, stack="nimble")
    bleak = bumble_bleak.central(air)
    t = monitor.open_transport(ble=NAME, bleak=bleak)
    session = monitor.watch(t, 1.0, ["led off"], live=False)
    assert nano.events[:3] == [("connection",), ("subscription", True), ("rx", b"listening\n")]
    seqs = seqs_of(session)
    assert len(seqs) >= 20 and seqs == nano.sent[:len(seqs)] and session.frames.lost == 0
    # due between the connect and the command (those after the monitor hung up are not its)
    assert [s for s in nano.dropped if s < seqs[-1]] == list(range(1, seqs[0]))
    # none discarded: every notification the board handed to its controller before the monitor
    # began to hang up arrived, in order (one handed over during the hang-up may be lost with it)
    before_hangup = sum(t < bleak.stats.hangups[0] for t in nano.notification_times)
    assert before_hangup <= len(bleak.stats.received) <= len(nano.notification_sizes)
    assert [len(n) for n in bleak.stats.received] == nano.notification_sizes[:len(bleak.stats.received)]
    assert session.frames.listening_replies == ["OK listening"] and session.frames.replies == ["OK led"]
    check_rows_equal_recorded(session, recording["rows"])


def test_on_nimble_a_central_that_never_says_listening_gets_nothing_it_would_discard(air, recording):
    # a central that connects and subscribes late without the command (what the board cannot
    # tell from a phone app that never sends it): the NimBLE board keeps dropping frames, rather
    # than notifying a central that would discard them. (On the board such a central listens
    # after LEGACY_LISTEN_MS, which tests/device/test_telemetry_ble.py covers, not played here.)
    nano = board(air, recording, stack="nimble")
    bleak = bumble_bleak.central(air)

    async def silent_central():
        device = await bleak.BleakScanner.find_device_by_name(NAME, timeout=3)
        async with bleak.BleakClient(device) as client:
            await asyncio.sleep(0.2)
            await client.start_notify(NUS_TX, lambda char, data: None)
            await asyncio.sleep(0.2)

    asyncio.run(silent_central())
    assert ("subscription", True) in nano.events and nano.sent == [] and len(nano.dropped) >= 20
    assert bleak.stats.received == [] and nano.notification_sizes == []


@pytest.mark.parametrize("chunking", ["board", "mtu"])
def test_after_an_mtu_exchange_the_frames_still_decode_as_recorded(air, recording, chunking):
    nano = board(air, recording, chunking=chunking)
    bleak = bumble_bleak.central(air, exchange_mtu=247)   # BlueZ and CoreBluetooth exchange on their own
    session = monitor.watch(monitor.open_transport(ble=NAME, bleak=bleak), 0.8, ["led off"], live=False)
    assert bleak.stats.mtus == [247]
    check_rows_equal_recorded(session, recording["rows"])
    assert session.frames.lost == 0 and session.frames.replies == ["OK led"]
    if chunking == "board":   # the board sends 20-byte pieces whatever the MTU
        assert max(map(len, bleak.stats.received)) == 20
    else:                     # a whole text line per notification: up to 244 bytes would fit
        assert max(map(len, bleak.stats.received)) > 20
        assert all(n.endswith(b"\n") and n.count(b"\n") == 1 for n in bleak.stats.received)


def test_the_stack_cuts_a_notification_to_the_att_mtu_and_the_exchange_lifts_it(air, recording):
    received = {}
    for mtu in (None, 100):
        peripheral = board(air, recording, address="D4:CA:6E:00:00:%02X" % (mtu or 23), period=60)
        bleak = bumble_bleak.central(air, exchange_mtu=mtu, address="C0:00:00:00:01:%02X" % (mtu or 23))

        async def notify_once():
            got = asyncio.Queue()
            device = await bleak.BleakScanner.find_device_by_address(peripheral.address, timeout=3)
            async with bleak.BleakClient(device) as client:
                await client.start_notify(NUS_TX, lambda char, data: got.put_nowait((char.uuid, bytes(data))))
                await air.call(peripheral.notify_raw(bytes(range(60))))
                return client.mtu_size, await asyncio.wait_for(got.get(), 5)

        received[mtu] = asyncio.run(notify_once())
    assert received[None] == (23, (NUS_TX.lower(), bytes(range(20))))   # MTU 23 - 3 bytes of ATT header
    assert received[100] == (100, (NUS_TX.lower(), bytes(range(60))))


def test_binary_frames_arrive_one_per_notification_and_decode_as_recorded(air, recording):
    nano = air.run(NusPeripheral(recording["binary"], {}, recording["adverts"][NAME]).start(air))
    bleak = bumble_bleak.central(air)
    session = monitor.watch(monitor.open_transport(ble=NAME, bleak=bleak), 0.5, live=False)
    assert set(nano.notification_sizes) == {16} == set(map(len, bleak.stats.received))   # 4 + 3 float32
    assert seqs_of(session) == list(range(1, session.frames.frames + 1)) and session.frames.frames >= 10
    check_rows_equal_recorded(session, recording["binary_rows"])


# --- disconnect and reconnect ---------------------------------------------------------------

class _DropAfterFirst:
    """drop_link_after for a board whose first frames were dropped: the n-th frame it sends."""

    def __init__(self, n):
        self.n, self.sent = n, 0

    def __contains__(self, seq):
        self.sent += 1
        return self.sent == self.n


@pytest.mark.parametrize("stack", ["cccd", "nimble"])
def test_when_the_board_drops_the_link_reconnect_resumes_the_stream(air, recording, stack):
    nano = board(air, recording, stack=stack)
    bleak = bumble_bleak.central(air)
    t = monitor.open_transport(ble=NAME, bleak=bleak, reconnect=True)
    # the board hangs up after the 30th frame it sends: seq 30 on "cccd", whose clock starts at
    # the subscription; later on "nimble", whose clock starts at the connection and which
    # drops the frames due before the command
    nano.drop_link_after = _DropAfterFirst(30)
    session = monitor.watch(t, 1.5, live=False)
    assert [text for _, text in t.events] == ["disconnected, reconnecting", "reconnected"]
    assert nano.connections == 2 and nano.subscriptions == [True, True]
    # each connection subscribed, then said `listening`, before anything else on RX
    assert [e for e in nano.events if e[0] != "disconnection"] == \
        [("connection",), ("subscription", True), ("rx", b"listening\n")] * 2
    assert nano.disconnects[0] == 0x13   # the board hung up
    seqs = seqs_of(session)
    first = seqs[0]
    # everything the board notified arrived; what it dropped while nobody listened is counted
    assert seqs == nano.sent[:len(seqs)] and seqs[:30] == list(range(first, first + 30))
    assert nano.dropped[:first - 1] == list(range(1, first))
    away = [s for s in nano.dropped if first + 29 < s < seqs[30]]   # more after the final hang-up
    assert away == list(range(first + 30, seqs[30])) and away and session.frames.lost == len(away)
    check_rows_equal_recorded(session, recording["rows"])
    assert not t.finished and t.error is None


def test_a_second_monitor_session_picks_up_the_stream_where_the_board_is(air, recording):
    nano = board(air, recording)
    bleak = bumble_bleak.central(air)
    first = monitor.watch(monitor.open_transport(ble=NAME, bleak=bleak), 0.4, live=False)
    second = monitor.watch(monitor.open_transport(ble=NAME, bleak=bleak), 0.4, live=False)
    a, b = seqs_of(first), seqs_of(second)
    assert a == list(range(1, len(a) + 1)) and b == list(range(b[0], b[0] + len(b)))
    # the board went on meanwhile: it dropped the frames due while nobody listened; those it
    # notified as the first session hung up (how many depends on the host's scheduling) did
    # not reach that session; every frame in between is one or the other
    hanging_up = [s for s in nano.sent if a[-1] < s < b[0]]
    assert nano.dropped
    assert sorted(nano.dropped + hanging_up) == list(range(a[-1] + 1, b[0]))
    assert nano.connections == 2 and nano.disconnects == [0x13, 0x13] and bleak.stats.mtus == [23, 23]
    check_rows_equal_recorded(second, recording["rows"])


def test_without_reconnect_a_dropped_link_ends_the_session_with_a_clear_error(air, recording):
    nano = board(air, recording)
    nano.drop_link_after = {10}
    t = monitor.open_transport(ble=NAME, bleak=bumble_bleak.central(air))
    session = monitor.watch(t, 5, live=False)
    assert seqs_of(session) == list(range(1, 11))
    assert t.finished and t.error == "the board disconnected (--reconnect keeps trying)"


# --- the command line -----------------------------------------------------------------------

def test_cli_monitor_ble_to_csv(air, recording, monkeypatch, tmp_path, capsys):
    board(air, recording)
    monkeypatch.setitem(sys.modules, "bleak", bumble_bleak.central(air))   # what `import bleak` finds
    out = tmp_path / "ble.csv"
    assert 0 == cli.main(["monitor", "--ble", NAME, "--seconds", "0.8", "--no-live", "--csv", str(out), "--command", "led off"])  # noqa: E501
    rows = list(csv.reader(open(out)))
    assert rows[0] == ["seq", "x", "y", "duty"] and len(rows) > 20
    for seq, *values in rows[1:]:
        assert [float(v) for v in values] == pytest.approx(recording["rows"][int(seq)], rel=1e-6)
    printed = capsys.readouterr().out
    assert f"wrote {out} ({len(rows) - 1} rows)" in printed and "OK led" in printed


# --- the adapter is bleak's API ---------------------------------------------------------------

def test_the_adapter_has_the_signatures_of_the_bleak_it_stands_in_for(air):
    """The parameters the monitor passes, by position and name, as installed bleak names them:
    a bleak release that renames one fails here, not only on a user's laptop."""
    import inspect

    import bleak

    adapter = bumble_bleak.central(air)

    def leading(function, n):
        return list(inspect.signature(function).parameters)[:n]

    for cls, methods in (("BleakScanner", {"find_device_by_name": 2, "find_device_by_address": 2}),
                         ("BleakClient", {"__init__": 4, "start_notify": 3, "write_gatt_char": 4,
                                          "disconnect": 1, "connect": 1})):
        for method, n in methods.items():
            real, ours = getattr(getattr(bleak, cls), method), getattr(getattr(adapter, cls), method)
            assert leading(ours, n) == leading(real, n), (cls, method)
    for prop in ("is_connected", "mtu_size", "services"):
        assert isinstance(getattr(bleak.BleakClient, prop), property)
        assert isinstance(getattr(adapter.BleakClient, prop), property)
