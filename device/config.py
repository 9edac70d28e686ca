# Which app main.py (MicroPython) and code.py (CircuitPython) run at reset:
#   "sine"    the TinyML hello world: a sine model sets the LED brightness
#   "motion"  reads the IMU, a model says still or moving, the LED shows how sure it is
#   "gesture" reads the IMU, your model (`tinyml train gesture`) names the gesture, the LED
#             brightness shows which; needs gesture.tmdl and gesture.classes on the board
#   "record"  streams the IMU over telemetry for `tinyml record --ble NAME`
APP = "sine"
