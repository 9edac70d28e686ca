"""A peripheral that plays a tinyml board's Nordic UART Service on a Bumble device
(tests/bumble_air.py): it advertises the NUS UUID and the name, serves RX (write, write
without response) and TX (notify) through Bumble's real GATT server, and replays what the
device's telemetry code sent, recorded in the micropython binary (tests/host/test_monitor_bumble.py):

- frames: one recorded frame per `period` seconds, each as the notifications the board sent
  (20-byte pieces); the clock starts at the first subscription and goes on without one, and
  a frame due while no central listens (notifications on TX enabled) is dropped and counted,
  as the board does (docs/telemetry.md);
- replies: a command line written to RX gets the reply the device code gave to that line,
  sent between two frames, as the board's poll() does between two sends.

`stack` is which of the board's stacks it plays, in what it sees of a central listening
(docs/telemetry.md, "Listening"): "cccd" (ubluepy, adafruit_ble; btstack at its CCCD read) sees
the central's CCCD write, and a central listens from it to its CCCD write of 0 or its
disconnect; "nimble" (ESP32, Pico W on NimBLE: MicroPython's binding reports no CCCD write) sees
none, so a central listens from the RX command `listening` to its disconnect, the clock starts at
the first connection, and notifications go out whatever the CCCD says (NimBLE does not check
it). The `listening` line is answered as any other, with the device code's recorded reply.

`chunking="mtu"` sends each text frame in notifications as long as the connection's ATT MTU
allows (MTU - 3 bytes) instead of the board's 20 bytes: what a central must read as well.
"""

from __future__ import annotations

import asyncio
import binascii
import time

from bumble.core import AdvertisingData
from bumble.gatt import Characteristic, CharacteristicValue, Service

NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_RX = "6E400002-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_TX = "6E400003-B5A3-F393-E0A9-E50E24DCCA9E"
ADV_MAX = 31   # bytes of legacy advertising data, and of a scan response
ADV_INTERVAL_MS = 50   # faster than the board's 1 s (telemetry.SETTINGS): discovery is not timed here


class NusPeripheral:
    """frames: [(seq, [notification bytes, ...]), ...] in the order sent; replies: {command
    line without newline: [notification bytes, ...]}; adverts: (advertising data, scan response)
    as the board's tinyml.telemetry.advertising_payloads(name) made them."""

    def __init__(self, frames, replies, adverts, name="tinyml", address="D4:CA:6E:11:22:33", period=0.01,
                 chunking="board", stack="cccd"):
        if stack not in ("cccd", "nimble"):
            raise ValueError(f"stack: 'cccd' or 'nimble', not {stack!r}")
        self.frames, self.replies = list(frames), dict(replies)
        self.adverts = adverts
        self.name, self.address, self.period, self.chunking, self.stack = name, address, period, chunking, stack
        # what happened, for the tests to check
        self.events: list[tuple] = []           # ("connection",) ("subscription", on) ("rx", bytes) ("disconnection",)
        self.connections = 0
        self.subscriptions: list[bool] = []     # notify enabled or disabled, per CCCD write
        self.disconnects: list[int] = []        # HCI reasons
        self.writes: list[bytes] = []           # what arrived on RX, write by write
        self.unanswered: list[bytes] = []       # lines nobody recorded a reply for
        self.sent: list[int] = []               # seqs of frames notified
        self.dropped: list[int] = []            # seqs of frames due while nobody listened
        self.notification_sizes: list[int] = []
        self.notification_times: list[float] = []   # time.monotonic() as each went to the controller
        self.drop_link_after: set[int] = set()  # seqs after which the board drops the link
        self._listening = None                  # the connection with notifications enabled
        self._line = b""
        self._pending: list[bytes] = []
        self._clock = None

    async def start(self, air):
        """Power on in the air (call in its loop) and advertise."""
        self.air = air
        self.device = device = await air.add_device(self.name, self.address)
        self.tx = Characteristic(NUS_TX, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b"")
        self.rx = Characteristic(NUS_RX, Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
                                 Characteristic.WRITEABLE, CharacteristicValue(write=self._on_rx))
        device.add_service(Service(NUS_SERVICE, [self.tx, self.rx]))
        self.tx.on(self.tx.EVENT_SUBSCRIPTION, self._on_subscription)
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self.advertising_data, self.scan_response = self.adverts
        await self._advertise()
        return self

    async def _advertise(self):
        await self.device.start_advertising(advertising_data=self.advertising_data,
                                            scan_response_data=self.scan_response,
                                            advertising_interval_min=ADV_INTERVAL_MS,
                                            advertising_interval_max=ADV_INTERVAL_MS)

    def _on_connection(self, connection):
        self.connections += 1
        self.events.append(("connection",))
        self._line = b""
        if self.stack == "nimble" and self._clock is None:   # the board runs whoever listens
            self._clock = asyncio.get_running_loop().create_task(self._run())
        connection.on(connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(connection, reason))

    def _on_disconnection(self, connection, reason):
        self.disconnects.append(reason)
        self.events.append(("disconnection",))
        if self._listening is connection:
            self._listening = None
        # one central at a time, as the board: advertise again once it is gone
        asyncio.get_running_loop().create_task(self._advertise())

    def _on_subscription(self, connection, notify_enabled, indicate_enabled):
        self.subscriptions.append(notify_enabled)
        self.events.append(("subscription", notify_enabled))
        if self.stack == "nimble":
            return          # the stack keeps the CCCD to itself
        self._listening = connection if notify_enabled else None
        if notify_enabled and self._clock is None:
            self._clock = asyncio.get_running_loop().create_task(self._run())

    def _on_rx(self, connection, value: bytes):
        self.writes.append(bytes(value))
        self.events.append(("rx", bytes(value)))
        self._line += bytes(value)
        while b"\n" in self._line:
            line, self._line = self._line.split(b"\n", 1)
            if line == b"listening" and self.stack == "nimble":
                self._listening = connection
            reply = self.replies.get(line.decode(errors="replace"))
            if reply is None:
                self.unanswered.append(line)
            else:
                self._pending.extend(reply)

    async def _notify(self, connection, chunks):
        if self.chunking == "mtu" and chunks[0][:1] != b"\xa5":   # text: refill to the MTU
            data, size = b"".join(chunks), connection.att_mtu - 3
            chunks = [data[i:i + size] for i in range(0, len(data), size)]
        for chunk in chunks:
            self.notification_sizes.append(len(chunk))
            # NimBLE notifies whatever the CCCD says; Bumble's server, like the others, checks it
            await self.device.notify_subscriber(connection, self.tx, chunk, force=self.stack == "nimble")
            self.notification_times.append(time.monotonic())

    async def _run(self):
        for seq, chunks in self.frames:
            await asyncio.sleep(self.period)
            connection = self._listening
            if connection is None:
                self.dropped.append(seq)
                continue
            if self._pending:   # replies first, as the board polls RX before it sends
                replies, self._pending = self._pending, []
                await self._notify(connection, replies)
            await self._notify(connection, chunks)
            self.sent.append(seq)
            if seq in self.drop_link_after:
                await connection.disconnect()

    async def notify_raw(self, data: bytes):
        """One notification of `data` to the listening central (the stack cuts it to MTU - 3)."""
        await self.device.notify_subscriber(self._listening, self.tx, data)
