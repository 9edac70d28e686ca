# Viper int8 multiply-accumulate: machine-word arithmetic, ~10x the pure-Python speed.
# Imported inside try/except by tinyml.model, so ports without viper (CircuitPython)
# never compile this file.
import micropython


@micropython.viper
def mac(x: ptr8, w: ptr8, acc: ptr32, n_in: int, n_out: int):
    k = 0
    for o in range(n_out):
        a = 0
        for i in range(n_in):
            # ptr8 reads unsigned bytes; (b ^ 0x80) - 0x80 sign-extends int8
            a += ((int(w[k]) ^ 0x80) - 0x80) * ((int(x[i]) ^ 0x80) - 0x80)
            k += 1
        acc[o] = a
