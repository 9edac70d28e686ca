/* Plays CMSIS-DSP's real FFT for tests/native/test_external_rfft.py behind external_rfft_driver.c's
 * interface: a textbook radix-2 FFT of the 512 samples in 32-bit values (Q15 twiddles the test
 * writes into standin_cos, products rounded), divided by 512 as arm_rfft_q15's 10.6 output is. */
#include <stdint.h>

int16_t standin_cos[512];   /* round(32767 cos(2 pi i / 512)) */
static int32_t im[512];   /* the real parts live in out (2 KB: 512 int32), crossrun's RAM is small */

int32_t rfft_ext_init(void) {
    return 0;
}

static int32_t product(int32_t a, int32_t c) {
    return (int32_t)(((int64_t)a * c + (1 << 14)) >> 15);
}

void rfft_ext_run(int16_t *in, int16_t *out) {
    int32_t i, k, len, *re = (int32_t *)(void *)out;   /* the tool's out is 4-byte aligned */
    for (i = 0; i < 512; ++i) {
        int32_t j = 0, b;
        for (b = 0; b < 9; ++b) {
            j |= ((i >> b) & 1) << (8 - b);
        }
        re[j] = in[i];
        im[j] = 0;
    }
    for (len = 2; len <= 512; len <<= 1) {
        int32_t half = len / 2, step = 512 / len;
        for (i = 0; i < 512; i += len) {
            for (k = 0; k < half; ++k) {
                int32_t c = standin_cos[k * step], s = -standin_cos[(k * step + 384) & 511];   /* e^(-2 pi i k / len) */
                int32_t a = i + k, b = a + half;
                int32_t tr = product(re[b], c) - product(im[b], s), ti = product(re[b], s) + product(im[b], c);
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
    }
    for (k = 0; k < 512; ++k) {   /* (re, im) as int16 over re[k] itself, once it is read */
        int32_t r = re[k];
        out[2 * k] = (int16_t)((r + 256) >> 9);
        out[2 * k + 1] = (int16_t)((im[k] + 256) >> 9);
    }
}

/* the same with bin 3's real part off by 40 */
void standin_rfft_wrong(int16_t *in, int16_t *out) {
    rfft_ext_run(in, out);
    out[6] = (int16_t)(out[6] + 40);
}
