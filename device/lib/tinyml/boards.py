# Generated from boards.json by `tinyml boards --write`; do not edit.
# id: (name, micropython machine string, circuitpython board_id,
#      LED pin on micropython, LED pin on circuitpython, LED active low, LED can PWM)
BOARDS = {
    'nano33_ble_sense': ('Arduino Nano 33 BLE Sense (Rev1)', 'Arduino Nano 33 BLE Sense', 'arduino_nano_33_ble', 13, 'LED', False, True),
    'nano33_ble_sense_rev2': ('Arduino Nano 33 BLE Sense Rev2', 'Arduino Nano 33 BLE Sense', 'arduino_nano_33_ble', 13, 'LED', False, True),
    'esp32': ('ESP32 DevKitC', 'ESP32 module', 'espressif_esp32_devkitc_v4_wroom_32e', 2, 'IO2', False, True),
    'esp32s3': ('ESP32-S3 DevKitC-1', 'ESP32S3 module', 'espressif_esp32s3_devkitc_1_n8', 2, 'IO2', False, True),
    'pico': ('Raspberry Pi Pico', 'Raspberry Pi Pico with RP2040', 'raspberry_pi_pico', 25, 'LED', False, True),
    'pico_w': ('Raspberry Pi Pico W', 'Raspberry Pi Pico W with RP2040', 'raspberry_pi_pico_w', 15, 'GP15', False, True),
    'pico2_w': ('Raspberry Pi Pico 2 W', 'Raspberry Pi Pico 2 W with RP2350', 'raspberry_pi_pico2_w', 15, 'GP15', False, True),
}
