board_id = "raspberry_pi_pico"
GP16 = "GP16"
GP18 = "GP18"
