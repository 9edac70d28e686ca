# The virtual board's BLE link: notifications go to $TINYML_SIM_DIR/ble_tx (records of one
# length byte and up to 20 payload bytes), writes from the central come from ble_rx (lines).
# A central is connected while ble_central exists (`tinyml monitor --port sim` creates it).
# ble_name holds the name the board advertises, for a central that picks a board by its name.
import os


class Link:
    def __init__(self, name):
        self.name = name
        base = os.getenv("TINYML_SIM_DIR") or "."
        self._central = base + "/ble_central"
        self._tx = open(base + "/ble_tx", "ab")
        self._rx_path = base + "/ble_rx"
        self._rx_pos = 0
        self._len = bytearray(1)
        with open(base + "/ble_name", "w") as f:
            f.write(name)

    def connected(self):
        try:
            os.stat(self._central)
            return True
        except OSError:
            return False

    def notify(self, chunk):
        self._len[0] = len(chunk)
        self._tx.write(self._len)
        self._tx.write(chunk)
        self._tx.flush()

    def read_line(self):
        try:
            with open(self._rx_path, "rb") as f:
                f.seek(self._rx_pos)
                line = f.readline()
        except OSError:
            return None
        if not line.endswith(b"\n"):
            return None  # nothing new, or a line still being written
        self._rx_pos += len(line)
        return line
