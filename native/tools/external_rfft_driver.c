/* Driver for native/tools/external_rfft.py: CMSIS-DSP's 512-point q15 real FFT behind two calls.
 * Built outside this repository with CMSIS-DSP's sources (docs/benchmarks.md, "CMSIS-DSP's real
 * FFT beside tinyml's"); this file is ours, CMSIS-DSP's are not here. */
#include "arm_math.h"

static arm_rfft_instance_q15 rfft;

/* 0 when ready (arm_status ARM_MATH_SUCCESS) */
int32_t rfft_ext_init(void) {
    return (int32_t)arm_rfft_init_q15(&rfft, 512, 0, 1);
}

/* in: 512 q15 samples (overwritten: the complex FFT runs in place); out: 1024 q15, the spectrum as
 * (re, im) pairs in CMSIS-DSP's 10.6 format for 512 points (the DFT divided by 512) */
void rfft_ext_run(q15_t *in, q15_t *out) {
    arm_rfft_q15(&rfft, in, out);
}
