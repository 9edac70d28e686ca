/* PDM capture on the nRF52840 (tml_pdm.h): the peripheral's registers as the nRF52840 Product
 * Specification's PDM chapter lists them, driven by polling its latched events.
 *
 * Double buffering: SAMPLE.PTR and MAXCNT are latched when a transfer starts (EVENTS_STARTED),
 * so after each STARTED the next buffer's address can be written while EasyDMA fills the
 * current one. END says the current buffer is full; the STARTED that comes with it says the
 * other one (written at the previous STARTED) is now being filled. */
#include "tml_pdm.h"

#if TML_PDM_BUILT

#define PDM_BASE 0x4001D000UL
#define REG(base, off) (*(volatile uint32_t *)((base) + (off)))

#define PDM_TASKS_START    REG(PDM_BASE, 0x000)
#define PDM_TASKS_STOP     REG(PDM_BASE, 0x004)
#define PDM_EVENTS_STARTED REG(PDM_BASE, 0x100)
#define PDM_EVENTS_STOPPED REG(PDM_BASE, 0x104)
#define PDM_EVENTS_END     REG(PDM_BASE, 0x108)
#define PDM_INTEN          REG(PDM_BASE, 0x300)
#define PDM_ENABLE         REG(PDM_BASE, 0x500)
#define PDM_PDMCLKCTRL     REG(PDM_BASE, 0x504)
#define PDM_MODE           REG(PDM_BASE, 0x508)
#define PDM_GAINL          REG(PDM_BASE, 0x518)
#define PDM_GAINR          REG(PDM_BASE, 0x51C)
#define PDM_RATIO          REG(PDM_BASE, 0x520)
#define PDM_PSEL_CLK       REG(PDM_BASE, 0x540)
#define PDM_PSEL_DIN       REG(PDM_BASE, 0x544)
#define PDM_SAMPLE_PTR     REG(PDM_BASE, 0x560)
#define PDM_SAMPLE_MAXCNT  REG(PDM_BASE, 0x564)

/* 1.280 MHz with RATIO 80 gives 16.000 kHz exactly (1.032 MHz / 64 would give 16.125 kHz) and
 * sits inside the MP34DT05/06's clock range, which starts at 1.2 MHz. */
#define PDMCLKCTRL_1280K   0x0A000000UL
#define RATIO_80           1UL
#define MODE_MONO_LEFT_FALLING 1UL   /* OPERATION = Mono (bit 0), EDGE = LeftFalling (bit 1 = 0) */
#define GAIN_0DB           0x28UL
#define PSEL_DISCONNECTED  0xFFFFFFFFUL  /* CONNECT (bit 31) = 1 */

/* GPIO: P0 at 0x50000000, P1 at 0x50000300; pin n of 0..47 is P0.n, then P1.(n-32), which is
 * also the PSEL encoding (PIN in bits 0-4, PORT in bit 5). */
#define GPIO_PORT(pin)     (0x50000000UL + ((pin) >> 5) * 0x300UL)
#define GPIO_OUTSET(pin)   REG(GPIO_PORT(pin), 0x508)
#define GPIO_OUTCLR(pin)   REG(GPIO_PORT(pin), 0x50C)
#define GPIO_PIN_CNF(pin)  REG(GPIO_PORT(pin), 0x700 + 4 * ((pin) & 31))
#define PIN_CNF_OUTPUT     3UL   /* DIR = Output, INPUT = Disconnect, no pull, S0S1 */
#define PIN_CNF_INPUT      0UL   /* DIR = Input, INPUT = Connect, no pull */
#define PIN_CNF_DEFAULT    2UL   /* the reset state: input, disconnected */

#define MAX_PIN 47
#define STOP_SPINS 100000UL      /* STOPPED comes within one block; this bounds a dead peripheral */

int tml_pdm_start(tml_pdm_t *s, int16_t *buf0, int16_t *buf1, uint32_t n,
                  uint32_t clk_pin, uint32_t din_pin, int32_t power_pin) {
    if (s == 0 || buf0 == 0 || buf1 == 0) {
        return TML_ERR_NULL;
    }
    if (n < 2 || n > TML_PDM_MAX_SAMPLES || (n & 1u) != 0 || buf0 == buf1) {
        return TML_ERR_SIZE;
    }
    /* EasyDMA writes words (two mono samples each) */
    if ((((uintptr_t)buf0) & 3u) != 0 || (((uintptr_t)buf1) & 3u) != 0) {
        return TML_ERR_ALIGN;
    }
    if (clk_pin > MAX_PIN || din_pin > MAX_PIN || clk_pin == din_pin || power_pin > MAX_PIN
        || (power_pin >= 0 && ((uint32_t)power_pin == clk_pin || (uint32_t)power_pin == din_pin))) {
        return TML_ERR_RANGE;
    }
    if (s->running) {
        tml_pdm_stop(s);
    }
    s->buf[0] = buf0;
    s->buf[1] = buf1;
    s->n = n;
    s->power_pin = power_pin;
    s->clk_pin = (uint8_t)clk_pin;
    s->din_pin = (uint8_t)din_pin;
    s->lost = 0;
    s->dma = 0;
    s->ready = -1;

    if (power_pin >= 0) {   /* the microphone's supply first */
        GPIO_OUTSET((uint32_t)power_pin) = 1UL << ((uint32_t)power_pin & 31);
        GPIO_PIN_CNF((uint32_t)power_pin) = PIN_CNF_OUTPUT;
    }
    /* the chapter's pin configuration: CLK an output driven low, DIN an input */
    GPIO_OUTCLR(clk_pin) = 1UL << (clk_pin & 31);
    GPIO_PIN_CNF(clk_pin) = PIN_CNF_OUTPUT;
    GPIO_PIN_CNF(din_pin) = PIN_CNF_INPUT;

    PDM_INTEN = 0;   /* polled: events latch without an interrupt */
    PDM_PDMCLKCTRL = PDMCLKCTRL_1280K;
    PDM_RATIO = RATIO_80;
    PDM_MODE = MODE_MONO_LEFT_FALLING;
    PDM_GAINL = GAIN_0DB;
    PDM_GAINR = GAIN_0DB;
    PDM_PSEL_CLK = clk_pin;
    PDM_PSEL_DIN = din_pin;
    PDM_SAMPLE_PTR = (uint32_t)(uintptr_t)buf0;
    PDM_SAMPLE_MAXCNT = n;
    PDM_EVENTS_STARTED = 0;
    PDM_EVENTS_STOPPED = 0;
    PDM_EVENTS_END = 0;
    PDM_ENABLE = 1;
    PDM_TASKS_START = 1;
    s->running = 1;
    return TML_OK;
}

int tml_pdm_poll(tml_pdm_t *s) {
    if (s == 0 || !s->running) {
        return -1;
    }
    if (PDM_EVENTS_END) {
        PDM_EVENTS_END = 0;
        int8_t done = s->dma;
        if (s->ready >= 0) {
            s->lost++;   /* the block before was never read: EasyDMA now overwrites it */
        }
        s->ready = done;
        s->dma = (int8_t)(1 - done);
    }
    if (PDM_EVENTS_STARTED) {
        PDM_EVENTS_STARTED = 0;
        /* the buffer being filled is latched: name the other one for the next transfer. If
         * STARTEDs were missed, PTR still names the buffer EasyDMA is in, and this model agrees. */
        PDM_SAMPLE_PTR = (uint32_t)(uintptr_t)s->buf[1 - s->dma];
    }
    return s->ready;
}

int tml_pdm_take(tml_pdm_t *s, int16_t *out) {
    if (s == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    if (s->ready < 0) {
        return TML_ERR_SIZE;
    }
    const int16_t *src = s->buf[s->ready];
    for (uint32_t i = 0; i < s->n; i++) {
        out[i] = src[i];
    }
    s->ready = -1;
    return TML_OK;
}

void tml_pdm_stop(tml_pdm_t *s) {
    if (s == 0 || !s->running) {
        return;
    }
    PDM_TASKS_STOP = 1;
    for (uint32_t spin = 0; spin < STOP_SPINS && !PDM_EVENTS_STOPPED; spin++) {
    }
    PDM_EVENTS_STOPPED = 0;
    PDM_EVENTS_STARTED = 0;
    PDM_EVENTS_END = 0;
    PDM_ENABLE = 0;
    PDM_PSEL_CLK = PSEL_DISCONNECTED;
    PDM_PSEL_DIN = PSEL_DISCONNECTED;
    GPIO_PIN_CNF(s->clk_pin) = PIN_CNF_DEFAULT;
    GPIO_PIN_CNF(s->din_pin) = PIN_CNF_DEFAULT;
    if (s->power_pin >= 0) {
        GPIO_OUTCLR((uint32_t)s->power_pin) = 1UL << ((uint32_t)s->power_pin & 31);
    }
    s->running = 0;
    s->ready = -1;
}

#else /* not the nRF52840: the same API, reporting that it was not built for this chip */

int tml_pdm_start(tml_pdm_t *s, int16_t *buf0, int16_t *buf1, uint32_t n,
                  uint32_t clk_pin, uint32_t din_pin, int32_t power_pin) {
    (void)s;
    (void)buf0;
    (void)buf1;
    (void)n;
    (void)clk_pin;
    (void)din_pin;
    (void)power_pin;
    return TML_ERR_UNSUPPORTED;
}

int tml_pdm_poll(tml_pdm_t *s) {
    (void)s;
    return -1;
}

int tml_pdm_take(tml_pdm_t *s, int16_t *out) {
    (void)s;
    (void)out;
    return TML_ERR_UNSUPPORTED;
}

void tml_pdm_stop(tml_pdm_t *s) {
    (void)s;
}

#endif
