# NUS on CircuitPython through adafruit_ble: its UARTService is the NUS service, and
# BLERadio advertises it (ProvideServicesAdvertisement). CircuitPython does not advertise again
# after a central leaves: connected() restarts it.
# Subscription: UARTService.write sets the TX characteristic's value, and CircuitPython notifies
# only the connections whose CCCD enables it, silently skipping the others (ports/nordic
# common-hal/_bleio/Characteristic.c, set_value), so a write says nothing about who got it. No
# API reads a local CCCD, but a server-side _bleio.PacketBuffer on TX follows it: it takes the
# central from its CCCD write enabling notifications and lets go at a CCCD write of 0 or a
# disconnect (PacketBuffer.c, packet_buffer_on_ble_server_evt), and its outgoing_packet_length
# raises ValueError while it has no central. We send through UARTService and only ask that.
import _bleio
from adafruit_ble import BLERadio
from adafruit_ble.advertising import Advertisement
from adafruit_ble.advertising.standard import ProvideServicesAdvertisement
from adafruit_ble.services.nordic import UARTService
from micropython import const

from tinyml.telemetry import ADV_MAX, NUS_TX, SETTINGS, fit_name

_TX_POWER_FIELD = const(3)   # the scan response's TX power field, as BLERadio's default has it


class Link:
    def __init__(self, name):
        self.name = name
        self.overrun = False    # UARTService's 512-byte buffer drops silently when full
        self._radio = BLERadio()
        self._uart = UARTService()
        self._advertisement, self._scan_response = self._payloads(name)
        self._radio.name = name     # the GAP device name a central reads after connecting
        tx_uuid = _bleio.UUID(NUS_TX)
        (tx,) = [c for c in self._uart.bleio_service.characteristics if c.uuid == tx_uuid]
        # made before advertising, so it sees every CCCD write
        self._subscription = _bleio.PacketBuffer(tx, buffer_size=1, max_packet_size=20)
        self._asked = False
        self._advertise()

    def _payloads(self, name):
        """ProvideServicesAdvertisement has the flags and NUS's UUID; the name goes in what is
        left of its 31 bytes (complete if it fits, else shortened), and the scan response, with
        BLERadio's TX power field, gets the complete name when it was shortened."""
        advertisement = ProvideServicesAdvertisement(self._uart)
        cut, whole = fit_name(name, ADV_MAX - len(bytes(advertisement)) - 2)
        response = Advertisement()
        if whole:
            advertisement.complete_name = cut
        else:
            advertisement.short_name = cut
            cut, whole = fit_name(name, ADV_MAX - _TX_POWER_FIELD - 2)
            if whole:
                response.complete_name = cut
            else:
                response.short_name = cut
        response.tx_power = self._radio.tx_power
        return advertisement, bytes(response)

    def _advertise(self):
        if not self._radio.advertising:
            # SETTINGS: fewer advertising events, less radio time (docs/telemetry.md, Power)
            self._radio.start_advertising(self._advertisement, scan_response=self._scan_response,
                                          interval=SETTINGS["adv_interval_ms"] / 1000)

    def connected(self):
        if self._radio.connected:
            if not self._asked:
                self._asked = True
                self._ask_interval()
            return True
        self._asked = False
        self._advertise()
        return False

    def listening(self):
        if not self.connected():
            return False
        try:
            return self._subscription.outgoing_packet_length > 0
        except ValueError:    # "No connection": nobody has enabled notifications
            return False

    def _ask_interval(self):
        """Ask the central for SETTINGS' connection interval (it may pick another)."""
        for connection in self._radio.connections:
            try:
                connection.connection_interval = SETTINGS["conn_interval_ms"]
            except (OSError, _bleio.BluetoothError, ValueError):
                pass  # the central or the port refused: keep its interval

    def notify(self, chunk):
        if not self.listening():
            return False
        try:
            self._uart.write(chunk)
        except (OSError, MemoryError, _bleio.BluetoothError):
            # ConnectionError (the central left) is an OSError; a full TX queue on ESP32 raises
            return False
        return True

    def read(self):
        if not self.connected():
            return None
        n = self._uart.in_waiting
        if not n:
            return None
        return self._uart.read(n)   # only what is there: read() waits for more otherwise
