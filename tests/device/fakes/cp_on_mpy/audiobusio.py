# PDMIn.record(destination, destination_length): unsigned samples, time passing as it records
import supervisor


class PDMIn:
    def __init__(self, clock_pin, data_pin, *, sample_rate=16000, bit_depth=8, mono=True, oversample=64,
                 startup_delay=0.11):
        self.sample_rate = sample_rate
        self.sample = 0

    def record(self, destination, destination_length):
        for k in range(destination_length):
            destination[k] = ((self.sample + k) * 7919) & 0xFFFF
        self.sample += destination_length
        supervisor.now[0] += destination_length * 1000 // self.sample_rate
        return destination_length

    def deinit(self):
        pass
