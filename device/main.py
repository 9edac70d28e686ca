# Runs at every reset: the app named in config.py (the sine LED demo by default).
# The same file runs on the virtual board, a Nano 33 BLE Sense, an ESP32 or a Pico:
# board differences live in tinyml.hal and boards.json.
import config
from tinyml import apps


def run(**options):
    settings = getattr(config, "TELEMETRY", None)
    if settings:
        from tinyml import telemetry

        telemetry.configure(**settings)
    return apps.run(config.APP, **options)


if __name__ == "__main__":
    run()
