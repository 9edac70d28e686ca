# The simulated board behind tinyml's HAL on MicroPython's unix port (`tinyml sim`):
#   hal        LED as a PWM trace, the sensor I2C bus with register-level fakes, timed waits
#   devices    the register-level sensor fakes (MPU-6050, LSM9DS1, BMI270, BMM150, HTS221, ...)
#   gestures   the motion model the IMU fakes play (also run in CPython by the host)
#   bmi270     stand-in for the firmware-frozen `bmi270` driver
#   telemetry  the BLE link as files in the sim dir (`tinyml monitor --port sim`)
#   vfs        `vfs` with a ROMFS partition, as the nrf, rp2 and esp32 ports have it
#   heap       at power-on: loads the stand-ins, then holds back what a board keeps outside its heap
# Its presence on sys.path is what tells tinyml.hal it runs on the virtual board. It never
# ships to a board (device/package.json and device/manifest.py do not list it).
