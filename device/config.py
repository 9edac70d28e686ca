# Which app main.py (MicroPython) and code.py (CircuitPython) run at reset:
#   "sine"    the TinyML hello world: a sine model sets the LED brightness
#   "motion"  reads the IMU, a model says still or moving, the LED shows how sure it is
#   "gesture" reads the IMU, your model (`tinyml train gesture`) names the gesture, the LED
#             brightness shows which; needs gesture.tmdl and gesture.classes on the board
#   "record"  streams the IMU over telemetry for `tinyml record --ble NAME`
#   "kws"     listens to the microphone for keywords (needs kws.tmdl: `tinyml train kws`, or a model
#             from TensorFlow's training exported with `tinyml export --frontend micro --labels ...`)
APP = "sine"

# Telemetry radio settings (tinyml.telemetry.SETTINGS; docs/telemetry.md, Power: what each costs):
#   adv_interval_ms   advertising interval while no central is connected (20..10240)
#   conn_interval_ms  connection interval the board asks for (CircuitPython; 8..4000)
#   frame_rate_hz     most frames per second an app sends (1..100; `rate N` over BLE overrides)
TELEMETRY = {"adv_interval_ms": 1000, "conn_interval_ms": 100, "frame_rate_hz": 10}
