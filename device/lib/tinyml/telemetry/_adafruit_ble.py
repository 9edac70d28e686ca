# NUS on CircuitPython through adafruit_ble: its UARTService is the NUS service, and
# BLERadio advertises it (ProvideServicesAdvertisement; the name goes in the scan response).
# CircuitPython does not advertise again after a central leaves: connected() restarts it.
import _bleio
from adafruit_ble import BLERadio
from adafruit_ble.advertising.standard import ProvideServicesAdvertisement
from adafruit_ble.services.nordic import UARTService
from micropython import const

from tinyml.telemetry import SETTINGS

# BLERadio puts the name (2 + n bytes) and the TX power (3) in a 31-byte scan response
NAME_MAX = const(26)


class Link:
    def __init__(self, name):
        self.name = name[:NAME_MAX]
        self.overrun = False    # UARTService's 512-byte buffer drops silently when full
        self._radio = BLERadio()
        self._radio.name = self.name
        self._uart = UARTService()
        self._advertisement = ProvideServicesAdvertisement(self._uart)
        self._asked = False
        self._advertise()

    def _advertise(self):
        if not self._radio.advertising:
            # SETTINGS: fewer advertising events, less radio time (docs/telemetry.md, Power)
            self._radio.start_advertising(self._advertisement, interval=SETTINGS["adv_interval_ms"] / 1000)

    def connected(self):
        if self._radio.connected:
            if not self._asked:
                self._asked = True
                self._ask_interval()
            return True
        self._asked = False
        self._advertise()
        return False

    def _ask_interval(self):
        """Ask the central for SETTINGS' connection interval (it may pick another)."""
        for connection in self._radio.connections:
            try:
                connection.connection_interval = SETTINGS["conn_interval_ms"]
            except (OSError, _bleio.BluetoothError, ValueError):
                pass  # the central or the port refused: keep its interval

    def notify(self, chunk):
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
