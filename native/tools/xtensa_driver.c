/* Test driver for native/core on Xtensa LX106 under QEMU's sim machine (native/tools/xtensarun.py).
 *
 * The host writes a job at JOB_BASE (QEMU's `-device loader`): a header, a table of calls and
 * the buffers they point to. The driver makes each call, stores its result and the CCOUNT
 * ticks it took (under QEMU's -icount, a fixed number per executed instruction: xtensarun.py),
 * then writes the first `result_len` bytes of the job (header, calls, outputs) to the host's
 * stdout through semihosting and exits. Freestanding: no C library, no start files
 * (xtensa_start.S sets the stack, installs the exception vectors and calls main).
 */
#include <stdint.h>

#include "tinyml.h"

#define JOB_BASE 0x60000000u
#define JOB_MAGIC 0x4A4D4C54u /* "TLMJ" */

enum { FN_FC_S8 = 0, FN_FC_S8_REF = 1, FN_REQUANTIZE_MANY = 2, FN_RET_FC = 3, FN_LOOP = 4, FN_FC_S8_CHECKED = 5,
       FN_FC_CHECKED = 6 };

typedef struct {
    uint32_t magic;
    uint32_t count;        /* calls in the table */
    uint32_t result_len;   /* bytes written back: header, calls and outputs */
    uint32_t done;         /* set by the driver: calls made */
    char variant[16];      /* tml_fc_s8_variant() */
} job_header;

typedef struct {
    int32_t fn;
    uint32_t args[7];
    int32_t result;
    uint32_t ticks;        /* CCOUNT after - before the call */
} job_call;

/* Simulator calls (QEMU target/xtensa/xtensa-semi.c): number in a2, arguments in a3..a5,
 * result in a2. */
static int32_t simcall(int32_t nr, int32_t a, int32_t b, int32_t c)
{
    register int32_t r2 __asm__("a2") = nr;
    register int32_t r3 __asm__("a3") = a;
    register int32_t r4 __asm__("a4") = b;
    register int32_t r5 __asm__("a5") = c;
    __asm__ volatile("simcall" : "+r"(r2), "+r"(r3) : "r"(r4), "r"(r5) : "memory");
    return r2;
}

#define SYS_EXIT 1
#define SYS_WRITE 4

static inline uint32_t ccount(void)
{
    uint32_t v;
    __asm__ volatile("rsr %0, ccount" : "=r"(v));
    return v;
}

void tml_requantize_many(const int32_t *acc, int32_t n, int32_t *out, int32_t multiplier, int32_t shift,
                         int32_t rounding);
typedef tml_status (*fc_fn)(const tml_fc_params *, const int8_t *, const int8_t *, const int32_t *,
                            const int32_t *, const int8_t *, int8_t *);
/* xtensa_start.S, for calibrating the instruction count: one RET; a loop of 2 n + 1 instructions */
tml_status xt_ret_fc(const tml_fc_params *, const int8_t *, const int8_t *, const int32_t *, const int32_t *,
                     const int8_t *, int8_t *);
void xt_loop(int32_t n);
int main(void);

/* tml_fc_s8 the way a binding calls it: tml_fc_check first (once, at load), then the kernel */
static tml_status fc_s8_checked(const tml_fc_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                                const int32_t *mult, const int8_t *shift, int8_t *out)
{
    tml_status st = tml_fc_check(p, mult, shift);
    return st != TML_OK ? st : tml_fc_s8(p, x, w, bias, mult, shift, out);
}

/* Each call is timed on its own: CCOUNT read right before and right after it, so a kernel's
 * count differs from xt_ret's (a function that only returns) by the kernel's own instructions. */
static int32_t run(job_call *c)
{
    const uint32_t *a = c->args;
    uint32_t t0, t1;
    int32_t r = 0;
    switch (c->fn) {
    case FN_FC_S8:
    case FN_FC_S8_REF:
    case FN_FC_S8_CHECKED:
    case FN_RET_FC: {
        fc_fn f = c->fn == FN_FC_S8 ? tml_fc_s8 : c->fn == FN_FC_S8_REF ? tml_fc_s8_ref
                : c->fn == FN_FC_S8_CHECKED ? fc_s8_checked : xt_ret_fc;
        t0 = ccount();
        r = f((const tml_fc_params *)a[0], (const int8_t *)a[1], (const int8_t *)a[2], (const int32_t *)a[3],
              (const int32_t *)a[4], (const int8_t *)a[5], (int8_t *)a[6]);
        t1 = ccount();
        break;
    }
    case FN_REQUANTIZE_MANY:
        t0 = ccount();
        tml_requantize_many((const int32_t *)a[0], (int32_t)a[1], (int32_t *)a[2], (int32_t)a[3], (int32_t)a[4],
                            (int32_t)a[5]);
        t1 = ccount();
        break;
    case FN_FC_CHECKED:
        t0 = ccount();
        r = tml_fc_run_checked((const tml_fc_params *)a[0], (const tml_fc_buffers *)a[1]);
        t1 = ccount();
        break;
    case FN_LOOP:
        t0 = ccount();
        xt_loop((int32_t)a[0]);
        t1 = ccount();
        break;
    default:
        return -100;
    }
    c->ticks = t1 - t0;
    return r;
}

int main(void)
{
    job_header *h = (job_header *)JOB_BASE;
    if (h->magic != JOB_MAGIC) {
        return 3;
    }
    const char *v = tml_fc_s8_variant();
    for (int k = 0; k < 15 && v[k]; k++) {
        h->variant[k] = v[k];
    }
    job_call *calls = (job_call *)(h + 1);
    for (uint32_t k = 0; k < h->count; k++) {
        calls[k].result = run(&calls[k]);
        h->done = k + 1;
    }
    const char *p = (const char *)h;
    uint32_t left = h->result_len;
    while (left > 0) {
        int32_t n = simcall(SYS_WRITE, 1, (int32_t)(uintptr_t)p, (int32_t)left);
        if (n <= 0) {
            return 4;
        }
        p += n;
        left -= (uint32_t)n;
    }
    return 0;
}
