/* PDM microphone capture for the nRF52840 (the Arduino Nano 33 BLE Sense's MP34DT05/06):
 * the chip's PDM peripheral writes 16-bit mono PCM at 16 kHz by EasyDMA into two caller-owned
 * buffers in turn. No MicroPython port has a PDM driver; this one is compiled only where it can
 * run (NRF52840_XXAA, which MicroPython's nrf port defines, or TINYML_PDM_NRF52); elsewhere every
 * call returns TML_ERR_UNSUPPORTED. Plain C99, registers written from the nRF52840 Product
 * Specification's PDM chapter (no nrfx).
 *
 * Poll-driven, no interrupt handler: tml_pdm_poll reads the latched END and STARTED events.
 * While the app polls at least once per block (the binding's pdm_read waits in it) every
 * block arrives and `lost` is exact. When it is away longer the events coalesce: the
 * peripheral keeps rewriting the buffer SAMPLE.PTR names, the other keeps an intact block (the
 * one after the last read), and only a block that was waiting unread is counted, so `lost` is
 * a lower bound there; an END interrupt handler would make it exact. Never a torn block: the
 * buffer handed to the app is never the one EasyDMA writes. */
#ifndef TML_PDM_H
#define TML_PDM_H

#include <stdint.h>

#include "tinyml.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(NRF52840_XXAA) || defined(TINYML_PDM_NRF52)
#define TML_PDM_BUILT 1
#else
#define TML_PDM_BUILT 0
#endif

#define TML_PDM_RATE_HZ 16000
#define TML_PDM_MAX_SAMPLES 32767   /* SAMPLE.MAXCNT is 15 bits */

typedef struct {
    int16_t *buf[2];   /* caller-owned, 4-byte aligned, n samples each */
    uint32_t n;
    int32_t power_pin; /* -1: none */
    uint8_t clk_pin;
    uint8_t din_pin;
    uint32_t lost;     /* blocks overwritten before the app read them */
    int8_t dma;        /* the buffer EasyDMA writes now */
    int8_t ready;      /* a full buffer the app has not read, or -1 */
    uint8_t running;
} tml_pdm_t;

/* Powers the microphone (power_pin high, -1 for none), routes clk_pin/din_pin (0..47: P0.n,
 * then P1.(n-32)), starts 16 kHz capture into buf0 then buf1. n: even, 2..TML_PDM_MAX_SAMPLES.
 * TML_ERR_UNSUPPORTED when not built for this chip. */
int tml_pdm_start(tml_pdm_t *s, int16_t *buf0, int16_t *buf1, uint32_t n,
                  uint32_t clk_pin, uint32_t din_pin, int32_t power_pin);

/* Handles the latched events: returns the index of a full buffer waiting for the app, or -1. */
int tml_pdm_poll(tml_pdm_t *s);

/* Copies the waiting block into out (n samples) and frees it: TML_OK, or TML_ERR_SIZE when no
 * block waits yet (poll first). */
int tml_pdm_take(tml_pdm_t *s, int16_t *out);

/* Stops the capture (waits for STOPPED, bounded), disconnects the pins, powers the mic off. */
void tml_pdm_stop(tml_pdm_t *s);

#ifdef __cplusplus
}
#endif

#endif
