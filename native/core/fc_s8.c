/* Optimized int8 fully connected layer, one path per CPU family, each tested against
 * tml_fc_s8_ref() (fc_s8_ref.c) bit for bit: on the host (tests/native/test_core_host.py) and
 * cross-compiled for Cortex-M0+, M4, M33 and rv32imac under emulation (tests/native/test_core_emulated.py).
 * `make bench` prices them in cycles per MAC (docs/benchmarks.md).
 *
 * The weights come in the .tmdl layout (tinyml.h, docs/format.md): rows in blocks of 8, each
 * block walked 4 inputs at a time, so one pointer with immediate offsets serves a whole block.
 *
 * - "arm-dsp", Armv7E-M / Armv8-M Mainline with the DSP extension (Cortex-M4, M7, M33, M55):
 *   word loads, SXTB16 splits four int8 into two pairs of int16, SMLAD does two MACs; four rows
 *   (half a block) share each x word, in assembly. The usual layer (per-tensor scale, TFLite
 *   Micro rounding, n_in a multiple of 4) runs every block and its requantization in one
 *   assembly call (blocks_dsp).
 * - "armv6-m" (Cortex-M0, M0+, M1): four rows share each x byte through one index register
 *   (Thumb-1 byte loads take register offsets only), the loop in assembly with the
 *   accumulators in high registers; the requantization's high multiply in 32-bit pieces
 *   instead of GCC's 64-bit arithmetic.
 * - "portable", everything else (Xtensa, RISC-V, x86): plain C, four rows per pass so each
 *   x[i] load feeds four MACs; on rv32 the 8 rows of a block per pass, in assembly.
 *
 * All paths end in the same requantization, requantize.c's tml_requantize (the reference)
 * restated so that it inlines, with its constants computed once per layer for per-tensor
 * scales. The caller ran tml_fc_check once, so multipliers are >= 0 and shifts in [-31, 30] here.
 */
#include "kernel.h"

/* Requantize the accumulators of outputs o .. o + count - 1 into out[o...]. `qp` holds the
 * per-tensor constants; per-channel layers set them up per output. Copied into locals:
 * the int8 stores could alias *qp, which would reload it after every store. */
static inline void finish(const tml_fc_params *p, int32_t o, int32_t count, const int32_t *acc,
                          const int32_t *mult, const int8_t *shift, const requant *qp, int8_t *out)
{
    const int32_t zp = p->output_zp, lo = p->act_min - zp, hi = p->act_max - zp, rounding = p->rounding;
    requant q;
    q.mult = qp->mult; /* field by field: a struct copy can become a memcpy call */
    q.left = qp->left;
    q.right = qp->right;
    q.mask = qp->mask;
    q.round = qp->round;
    out += o;
    if (p->n_channels != 1) {
        for (int32_t k = 0; k < count; k++) {
            requant_setup(&q, mult[o + k], shift[o + k], rounding);
            int32_t y = rounding == TML_ROUNDING_LITERT ? requant_litert(&q, acc[k]) : requant_tflm(&q, acc[k]);
            out[k] = clamp_s8(y, lo, hi, zp);
        }
    } else if (rounding == TML_ROUNDING_LITERT) {
        for (int32_t k = 0; k < count; k++) {
            out[k] = clamp_s8(requant_litert(&q, acc[k]), lo, hi, zp);
        }
    } else {
        for (int32_t k = 0; k < count; k++) {
            out[k] = clamp_s8(requant_tflm(&q, acc[k]), lo, hi, zp);
        }
    }
}

/* ---- multiply-accumulate over the layout of tinyml.h: blocks of 8 rows, 4 inputs per word ---- */

#define BLOCK TML_BLOCK_ROWS
#define WORD_STEP (4 * BLOCK)  /* bytes from one row's 4 weights to its next 4 */

/* One row-major row (the rows after the last full block), and any row's last n % 4 inputs.
 * Unsigned sums: int32 wrap-around as in TFLite, without C's signed-overflow UB. */
static inline int32_t mac_row_c(const int8_t *x, const int8_t *r, int32_t n, int32_t a)
{
    uint32_t s = (uint32_t)a;
    for (int32_t i = 0; i < n; i++) {
        s += (uint32_t)(r[i] * x[i]);
    }
    return (int32_t)s;
}

/* The readable form of every path: rows 0..3 of a block from `w` (the block's start, or 16
 * bytes in for rows 4..7), nq groups of 4 inputs, each x[i] load feeding four MACs. The
 * portable path's (rv32 does a whole block at once instead, mac_rows8). */
#if !defined(TML_PATH_DSP) && !defined(TML_PATH_V6M) && !(defined(__riscv) && __riscv_xlen == 32)
#if defined(__GNUC__)
__attribute__((noinline))
#endif
#if defined(__XTENSA__) && defined(__GNUC__) && !defined(__clang__)
/* Xtensa has 14 free registers: a scheduler that watches register pressure spills less */
__attribute__((optimize("sched-pressure")))
#endif
static void mac_half(const int8_t *x, const int8_t *w, int32_t nq, int32_t acc[4])
{
    uint32_t a0 = (uint32_t)acc[0], a1 = (uint32_t)acc[1], a2 = (uint32_t)acc[2], a3 = (uint32_t)acc[3];
    for (int32_t j = 0; j < nq; j++, w += WORD_STEP, x += 4) {
        const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        a0 += (uint32_t)(w[0] * x0) + (uint32_t)(w[1] * x1) + (uint32_t)(w[2] * x2) + (uint32_t)(w[3] * x3);
        a1 += (uint32_t)(w[4] * x0) + (uint32_t)(w[5] * x1) + (uint32_t)(w[6] * x2) + (uint32_t)(w[7] * x3);
        a2 += (uint32_t)(w[8] * x0) + (uint32_t)(w[9] * x1) + (uint32_t)(w[10] * x2) + (uint32_t)(w[11] * x3);
        a3 += (uint32_t)(w[12] * x0) + (uint32_t)(w[13] * x1) + (uint32_t)(w[14] * x2) + (uint32_t)(w[15] * x3);
    }
    acc[0] = (int32_t)a0; acc[1] = (int32_t)a1; acc[2] = (int32_t)a2; acc[3] = (int32_t)a3;
}
#endif

#if TML_PATH_DSP

/* One group of 4 inputs against 4 rows, in assembly (r0 x, r1 w, r4-r7 the accumulators,
 * r8/r9 x's bytes (0, 2) and (1, 3) as halfwords, r3 r10-r12 lr free): the 4 weight words and
 * the x word in one run of loads (on Cortex-M4 a load behind a load takes 1 cycle, not 2),
 * then per row SXTB16, SMLAD, SXTB16 ROR 8, SMLAD. OFF is the group's offset from r1. */
#define QUAD(OFF) \
    "ldr   r10, [r1, #" #OFF "]\n" \
    "ldr   r11, [r1, #" #OFF "+4]\n" \
    "ldr   r12, [r1, #" #OFF "+8]\n" \
    "ldr   lr, [r1, #" #OFF "+12]\n" \
    "ldr   r3, [r0], #4\n" \
    "sxtb16 r8, r3\n" \
    "sxtb16 r9, r3, ror #8\n" \
    "sxtb16 r3, r10\n" \
    "smlad r4, r3, r8, r4\n" \
    "sxtb16 r10, r10, ror #8\n" \
    "smlad r4, r10, r9, r4\n" \
    "sxtb16 r3, r11\n" \
    "smlad r5, r3, r8, r5\n" \
    "sxtb16 r11, r11, ror #8\n" \
    "smlad r5, r11, r9, r5\n" \
    "sxtb16 r3, r12\n" \
    "smlad r6, r3, r8, r6\n" \
    "sxtb16 r12, r12, ror #8\n" \
    "smlad r6, r12, r9, r6\n" \
    "sxtb16 r3, lr\n" \
    "smlad r7, r3, r8, r7\n" \
    "sxtb16 lr, lr, ror #8\n" \
    "smlad r7, lr, r9, r7\n"

/* Rows 0..3 (or 4..7) of a block: nq groups of 4 inputs, four groups per loop turn, then one
 * at a time. One weight pointer with immediate offsets (the layout puts a block's rows side by
 * side), so 14 registers hold 4 accumulators, x split in two, 5 loaded words, x, w and the end:
 * 24 cycles per 16 MACs under the model, the loop's branch and compare spread over 64. */
__attribute__((naked, noinline))
static void mac_half(const int8_t *x, const int8_t *w, int32_t nq, int32_t acc[4])
{
    (void)x; (void)w; (void)nq; (void)acc;
    __asm__ volatile(
        ".syntax unified\n"
        "push  {r3, r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"   /* acc first, at [sp] after the nq push pops */
        "ldm   r3, {r4, r5, r6, r7}\n"
        "push  {r2}\n"
        "bics  r2, r2, #3\n"
        "add   r2, r0, r2, lsl #2\n"      /* x's end of the four-group turns */
        "cmp   r0, r2\n"
        "beq   2f\n"
        "1:\n"
        QUAD(0)
        QUAD(32)
        QUAD(64)
        "ldr   r10, [r1, #96]\n"
        "ldr   r11, [r1, #100]\n"
        "ldr   r12, [r1, #104]\n"
        "ldr   lr, [r1, #108]\n"
        "ldr   r3, [r0], #4\n"
        "adds  r1, r1, #128\n"
        "sxtb16 r8, r3\n"
        "sxtb16 r9, r3, ror #8\n"
        "sxtb16 r3, r10\n"
        "smlad r4, r3, r8, r4\n"
        "sxtb16 r10, r10, ror #8\n"
        "smlad r4, r10, r9, r4\n"
        "sxtb16 r3, r11\n"
        "smlad r5, r3, r8, r5\n"
        "sxtb16 r11, r11, ror #8\n"
        "smlad r5, r11, r9, r5\n"
        "sxtb16 r3, r12\n"
        "smlad r6, r3, r8, r6\n"
        "sxtb16 r12, r12, ror #8\n"
        "smlad r6, r12, r9, r6\n"
        "sxtb16 r3, lr\n"
        "smlad r7, r3, r8, r7\n"
        "sxtb16 lr, lr, ror #8\n"
        "smlad r7, lr, r9, r7\n"
        "cmp   r0, r2\n"
        "bne   1b\n"
        "2:\n"
        "ldr   r2, [sp]\n"
        "and   r2, r2, #3\n"
        "add   r2, r0, r2, lsl #2\n"      /* x's end */
        "cmp   r0, r2\n"
        "beq   4f\n"
        "3:\n"
        QUAD(0)
        "adds  r1, r1, #32\n"
        "cmp   r0, r2\n"
        "bne   3b\n"
        "4:\n"
        "add   sp, sp, #4\n"
        "pop   {r3}\n"
        "stm   r3, {r4, r5, r6, r7}\n"
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n");
}

/* four MACs: w bytes (0, 2) against xe = x bytes (0, 2), bytes (1, 3) against xo */
#define MAC4(acc, wv, xe, xo) \
    acc = (int32_t)__smlad(__sxtb16(wv), xe, (uint32_t)acc); \
    acc = (int32_t)__smlad(sxtb16_ror8(wv), xo, (uint32_t)acc)

static inline TML_HOT int32_t mac_row(const int8_t *x, const int8_t *r, int32_t n, int32_t a)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t xv = load32(x + i);
        uint32_t wv = load32(r + i);
        MAC4(a, wv, __sxtb16(xv), sxtb16_ror8(xv));
    }
    return mac_row_c(x + i, r + i, n - i, a);
}

#elif TML_PATH_V6M

/* Rows 0..3 (or 4..7) of a block, in Thumb-1 assembly: LDRSB takes register offsets only,
 * and MULS and LDRSB work on r0-r7 only. One index (r2) walks the weights: row r's byte k of
 * group j at base_r + 32 j + k, with base_r = w + 4 r, and it runs from -32 nq up to 0, so the
 * add that closes a group (+29) sets the flags the branch tests. x's byte 4 j + k is read at
 * the same index from r0, which steps back 28 per group. Four row bases, the index, x[i] and
 * a product in r0-r7, the four accumulators in r8-r11, where ADD reaches them: per input one
 * LDRSB of x, then per row LDRSB, MULS, ADD, 18 cycles per 4 MACs. The same sums as
 * mac_row_c: 32-bit products added with wrap-around. nq >= 1. */
#define V6M_INPUT \
        "ldrsb r6, [r0, r2]\n" \
        "ldrsb r7, [r1, r2]\n" \
        "muls  r7, r6, r7\n" \
        "add   r8, r8, r7\n" \
        "ldrsb r7, [r3, r2]\n" \
        "muls  r7, r6, r7\n" \
        "add   r9, r9, r7\n" \
        "ldrsb r7, [r4, r2]\n" \
        "muls  r7, r6, r7\n" \
        "add   r10, r10, r7\n" \
        "ldrsb r7, [r5, r2]\n" \
        "muls  r7, r6, r7\n" \
        "add   r11, r11, r7\n"

__attribute__((naked, noinline))
static void mac_half(const int8_t *x, const int8_t *w, int32_t nq, int32_t acc[4])
{
    (void)x; (void)w; (void)nq; (void)acc;
    __asm__ volatile(
        ".syntax unified\n"               /* GCC hands inline assembly to gas in divided syntax */
        "push  {r4, r5, r6, r7, lr}\n"
        "mov   r4, r8\n"
        "mov   r5, r9\n"
        "mov   r6, r10\n"
        "mov   r7, r11\n"
        "push  {r3, r4, r5, r6, r7}\n"   /* acc, then the caller's r8-r11 */
        "ldr   r4, [r3, #0]\n"
        "mov   r8, r4\n"
        "ldr   r4, [r3, #4]\n"
        "mov   r9, r4\n"
        "ldr   r4, [r3, #8]\n"
        "mov   r10, r4\n"
        "ldr   r4, [r3, #12]\n"
        "mov   r11, r4\n"
        "lsls  r2, r2, #5\n"           /* 32 nq */
        "adds  r0, r0, r2\n"           /* x + 32 nq, for the index's start */
        "adds  r1, r1, r2\n"           /* row 0's base + 32 nq */
        "adds  r3, r1, #4\n"           /* row 1 */
        "adds  r4, r3, #4\n"           /* row 2 */
        "adds  r5, r4, #4\n"           /* row 3 */
        "rsbs  r2, r2, #0\n"           /* index = -32 nq */
        "1:\n"
        V6M_INPUT
        "adds  r2, r2, #1\n"
        V6M_INPUT
        "adds  r2, r2, #1\n"
        V6M_INPUT
        "adds  r2, r2, #1\n"
        V6M_INPUT
        "subs  r0, r0, #28\n"          /* x: 4 further while the index moves 32 */
        "adds  r2, r2, #29\n"
        "bne   1b\n"
        "pop   {r3, r4, r5, r6, r7}\n"
        "mov   r0, r8\n"
        "str   r0, [r3, #0]\n"
        "mov   r0, r9\n"
        "str   r0, [r3, #4]\n"
        "mov   r0, r10\n"
        "str   r0, [r3, #8]\n"
        "mov   r0, r11\n"
        "str   r0, [r3, #12]\n"
        "mov   r8, r4\n"
        "mov   r9, r5\n"
        "mov   r10, r6\n"
        "mov   r11, r7\n"
        "pop   {r4, r5, r6, r7, pc}\n"
        ".syntax divided\n");
}

#define mac_row mac_row_c

#else /* portable C */

#define mac_row mac_row_c

#endif

/* Each row's last t = n % 4 inputs, which the layout keeps after a block's groups, row after row. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void mac_block_tail(const int8_t *x, const int8_t *tail, int32_t t, int32_t acc[BLOCK])
{
    for (int32_t r = 0; r < BLOCK; r++) {
        acc[r] = mac_row_c(x, tail + r * t, t, acc[r]);
    }
}

#if defined(__riscv) && !defined(TML_PATH_DSP) && !defined(TML_PATH_V6M) && __riscv_xlen == 32
/* RISC-V has the registers for a whole block: 8 accumulators (s0-s5, t5, t6), 4 inputs (t0-t3), 4
 * weights or products (a4-a7) and one weight pointer with immediate offsets. Per row and group
 * of 4 inputs: 4 LB, 4 MUL, 4 ADD, each load at least one instruction before its use (Hazard3
 * stalls a cycle otherwise): 12 cycles per 4 MACs; per 128 MACs 16 LB of x and 3 pointer and
 * loop instructions on top. In assembly: GCC's code for the same C keeps the accumulators on the
 * stack (its first scheduling pass hoists the loads of all 8 rows). */
#define TML_MAC_8ROWS 1
#define RV_ROW(s, off) \
    "lb   a4, " #off "(a1)\n" \
    "lb   a5, " #off "+1(a1)\n" \
    "lb   a6, " #off "+2(a1)\n" \
    "lb   a7, " #off "+3(a1)\n" \
    "mul  a4, a4, t0\n" \
    "mul  a5, a5, t1\n" \
    "mul  a6, a6, t2\n" \
    "mul  a7, a7, t3\n" \
    "add  " s ", " s ", a4\n" \
    "add  " s ", " s ", a5\n" \
    "add  " s ", " s ", a6\n" \
    "add  " s ", " s ", a7\n"
#define RV_GROUP(xo, wo) \
    "lb   t0, " #xo "(a0)\n" \
    "lb   t1, " #xo "+1(a0)\n" \
    "lb   t2, " #xo "+2(a0)\n" \
    "lb   t3, " #xo "+3(a0)\n" \
    RV_ROW("s0", wo) RV_ROW("s1", wo + 4) RV_ROW("s2", wo + 8) RV_ROW("s3", wo + 12) \
    RV_ROW("s4", wo + 16) RV_ROW("s5", wo + 20) RV_ROW("t5", wo + 24) RV_ROW("t6", wo + 28)

/* a0 x, a1 the block's weights, a2 nq >= 1, a3 acc[8] (out), a4 the block's bias (the sums'
 * start); four groups per turn */
__attribute__((naked, noinline))
static void mac_rows8(const int8_t *x, const int8_t *w, int32_t nq, int32_t acc[BLOCK], const int32_t *bias)
{
    (void)x; (void)w; (void)nq; (void)acc; (void)bias;
    __asm__ volatile(
        "addi sp, sp, -24\n"
        "sw   s0, 0(sp)\n"
        "sw   s1, 4(sp)\n"
        "sw   s2, 8(sp)\n"
        "sw   s3, 12(sp)\n"
        "sw   s4, 16(sp)\n"
        "sw   s5, 20(sp)\n"
        "lw   s0, 0(a4)\n"
        "lw   s1, 4(a4)\n"
        "lw   s2, 8(a4)\n"
        "lw   s3, 12(a4)\n"
        "lw   s4, 16(a4)\n"
        "lw   s5, 20(a4)\n"
        "lw   t5, 24(a4)\n"
        "lw   t6, 28(a4)\n"
        "srli t4, a2, 2\n"                  /* turns of four groups */
        "andi a2, a2, 3\n"
        "slli t4, t4, 4\n"
        "add  t4, a0, t4\n"                 /* x's end of the turns */
        "beq  a0, t4, 2f\n"
        ".p2align 2\n"
        "1:\n"
        RV_GROUP(0, 0)
        RV_GROUP(4, 32)
        RV_GROUP(8, 64)
        RV_GROUP(12, 96)
        "addi a0, a0, 16\n"
        "addi a1, a1, 128\n"
        "bne  a0, t4, 1b\n"
        "2:\n"
        "beqz a2, 3f\n"
        "slli a2, a2, 2\n"
        "add  a2, a0, a2\n"                 /* x's end */
        "4:\n"
        RV_GROUP(0, 0)
        "addi a0, a0, 4\n"
        "addi a1, a1, 32\n"
        "bne  a0, a2, 4b\n"
        "3:\n"
        "sw   s0, 0(a3)\n"
        "sw   s1, 4(a3)\n"
        "sw   s2, 8(a3)\n"
        "sw   s3, 12(a3)\n"
        "sw   s4, 16(a3)\n"
        "sw   s5, 20(a3)\n"
        "sw   t5, 24(a3)\n"
        "sw   t6, 28(a3)\n"
        "lw   s0, 0(sp)\n"
        "lw   s1, 4(sp)\n"
        "lw   s2, 8(sp)\n"
        "lw   s3, 12(sp)\n"
        "lw   s4, 16(sp)\n"
        "lw   s5, 20(sp)\n"
        "addi sp, sp, 24\n"
        "ret\n");
}
#endif

/* The 8 rows of a full block, from the bias: nq groups of 4 inputs (the path's mac_half, twice,
 * or RISC-V's mac_rows8), then the tails. */
static inline void mac_block(const int8_t *x, const int8_t *w, int32_t nq, int32_t t, const int32_t *bias,
                             int32_t acc[BLOCK])
{
#if TML_MAC_8ROWS
    if (nq) {
        mac_rows8(x, w, nq, acc, bias);
    } else
#endif
    {
        acc[0] = bias[0]; /* spelled out: a loop here becomes a memcpy call */
        acc[1] = bias[1];
        acc[2] = bias[2];
        acc[3] = bias[3];
        acc[4] = bias[4];
        acc[5] = bias[5];
        acc[6] = bias[6];
        acc[7] = bias[7];
#if !TML_MAC_8ROWS
        if (nq) {
            mac_half(x, w, nq, acc);
            mac_half(x, w + 16, nq, acc + 4);
        }
#endif
    }
    if (t) {
        mac_block_tail(x + 4 * nq, w + WORD_STEP * nq, t, acc);
    }
}

/* A block's 8 outputs in the usual case (per-tensor scale, TFLite Micro rounding): requant_tflm
 * and clamp_s8 for each, out of line so that the constants stay in registers across the 8. */
#if TML_PATH_DSP
/* GCC spills four of the eleven constants of this loop; by hand they fit: q's mult, left,
 * right and mask in r4-r7, mask / 2 in r8, the clamp bounds and zero point in r9-r11. Per
 * output the same steps as requant_tflm: x = acc << left; high = (x m + 2^30) >> 31 (SMLAL
 * onto 2^30); high >> right, plus one when high & mask exceeds mask / 2 + (high < 0); then
 * clamp to [lo, hi] and add zp. */
__attribute__((naked, noinline))
static void requant_block(const requant *qp, const int32_t *acc, int8_t *out, const int32_t bounds[3])
{
    (void)qp; (void)acc; (void)out; (void)bounds;
    __asm__ volatile(
        ".syntax unified\n"
        "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"
        "ldm   r0, {r4, r5, r6, r7}\n"        /* mult, left, right, mask */
        "ldm   r3, {r9, r10, r11}\n"          /* lo, hi, zp */
        "lsr   r8, r7, #1\n"
        "movs  r3, #8\n"
        "1:\n"
        "ldr   r0, [r1], #4\n"
        "lsl   r0, r0, r5\n"
        "mov   r12, #0x40000000\n"
        "mov   lr, #0\n"
        "smlal r12, lr, r0, r4\n"
        "lsr   r12, r12, #31\n"
        "orr   r12, r12, lr, lsl #1\n"        /* high */
        "and   r0, r12, r7\n"                 /* remainder */
        "add   lr, r8, r12, lsr #31\n"        /* threshold */
        "sub   r0, lr, r0\n"
        "asr   r12, r12, r6\n"
        "add   r12, r12, r0, lsr #31\n"
        "cmp   r12, r9\n"
        "it    lt\n"
        "movlt r12, r9\n"
        "cmp   r12, r10\n"
        "it    gt\n"
        "movgt r12, r10\n"
        "add   r12, r12, r11\n"
        "strb  r12, [r2], #1\n"
        "subs  r3, r3, #1\n"
        "bne   1b\n"
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n");
}

/* The usual layer whole (per-tensor scale, TFLite Micro rounding, n_in a multiple of 4): every
 * full block's two halves and its 8 outputs in one call, without the C code between the steps
 * (each half's call, the bias copy, the requantization's call: about a fifth of a 16x16 layer). */
typedef struct {
    const int8_t *x;       /* 0 */
    const int8_t *w;       /* 4: the block being done */
    int32_t nq;            /* 8: groups of 4 inputs, >= 1 */
    const int32_t *bias;   /* 12: the block's bias */
    int8_t *out;           /* 16: the block's outputs */
    int32_t blocks;        /* 20: blocks left, >= 1 */
    int32_t w_step;        /* 24: bytes per block, 8 n */
    uint32_t mult2;        /* 28: 2 mult (mult in [2^30, 2^31)), then requant's left, right, mask */
    int32_t left;
    int32_t right;
    int32_t mask;
    int32_t lo;            /* 44: act_min - zp, act_max - zp, zp */
    int32_t hi;
    int32_t zp;
    int32_t full_range;    /* 56: act range [-128, 127]: the clamp is QADD + SSAT */
    int32_t acc[BLOCK];    /* 60 */
} block_job;

/* One half: r0 x, r1 w, r2 nq on entry; r4-r7 the accumulators, loaded by the caller */
#define DSP_HALF(A, B, C, D) \
        "bics  r3, r2, #3\n" \
        "add   r3, r0, r3, lsl #2\n" \
        "and   r2, r2, #3\n" \
        "push  {r2}\n" \
        "mov   r2, r3\n" \
        "cmp   r0, r2\n" \
        "beq   " #B "f\n" \
        #A ":\n" \
        QUAD(0) \
        QUAD(32) \
        QUAD(64) \
        QUAD(96) \
        "adds  r1, r1, #128\n" \
        "cmp   r0, r2\n" \
        "bne   " #A "b\n" \
        #B ":\n" \
        "pop   {r2}\n" \
        "add   r2, r0, r2, lsl #2\n" \
        "cmp   r0, r2\n" \
        "beq   " #D "f\n" \
        #C ":\n" \
        QUAD(0) \
        "adds  r1, r1, #32\n" \
        "cmp   r0, r2\n" \
        "bne   " #C "b\n" \
        #D ":\n"

/* requantize one accumulator: r0 in, r12 out; r4 2 mult (mod 2^32), r5 left, r6 right, r7 mask,
 * r11 mask / 2. high = floor((x m + 2^30) / 2^31) = floor((p + 2^31) / 2^32) with p = x (2 m):
 * SMULL reads 2 m >= 2^31 as 2 m - 2^32, so p's high word is SMULL's plus x, and the rounding
 * adds bit 31 of the low word (3 instructions instead of 5 with SMLAL onto 2^30). mult >= 2^30. */
#define DSP_REQUANT \
        "lsl   r0, r0, r5\n" \
        "smull r12, lr, r0, r4\n" \
        "add   lr, lr, r0\n" \
        "add   r12, lr, r12, lsr #31\n"          /* high */ \
        "and   r0, r12, r7\n" \
        "add   lr, r11, r12, lsr #31\n" \
        "sub   r0, lr, r0\n" \
        "asr   r12, r12, r6\n" \
        "add   r12, r12, r0, lsr #31\n"

/* the next accumulator (r3) to the next output (r2), for the full int8 range: QADD, SSAT
 * clamp y + zp as if added in 64 bits */
#define DSP_REQUANT_SAT \
        "ldr   r0, [r3], #4\n" \
        DSP_REQUANT \
        "qadd  r12, r12, r10\n" \
        "ssat  r12, #8, r12\n" \
        "strb  r12, [r2], #1\n"

__attribute__((naked, noinline))
static void blocks_dsp(block_job *job)
{
    (void)job;
    __asm__ volatile(
        ".syntax unified\n"
        "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"
        "push  {r0}\n"                          /* the job, at [sp] */
        "10:\n"
        "ldr   r3, [r0, #12]\n"
        "ldm   r3, {r4, r5, r6, r7}\n"
        "ldr   r1, [r0, #4]\n"
        "ldr   r2, [r0, #8]\n"
        "ldr   r0, [r0, #0]\n"
        DSP_HALF(1, 2, 3, 4)
        "ldr   r3, [sp]\n"
        "add   r3, r3, #60\n"
        "stm   r3, {r4, r5, r6, r7}\n"
        "ldr   r3, [sp]\n"
        "ldr   r12, [r3, #12]\n"
        "add   r12, r12, #16\n"
        "ldm   r12, {r4, r5, r6, r7}\n"
        "ldr   r1, [r3, #4]\n"
        "add   r1, r1, #16\n"
        "ldr   r2, [r3, #8]\n"
        "ldr   r0, [r3, #0]\n"
        DSP_HALF(5, 6, 7, 8)
        "ldr   r3, [sp]\n"
        "add   r3, r3, #76\n"
        "stm   r3, {r4, r5, r6, r7}\n"
        /* the block's 8 outputs */
        "ldr   r3, [sp]\n"
        "add   r12, r3, #28\n"
        "ldm   r12, {r4, r5, r6, r7, r8, r9, r10}\n"   /* mult, left, right, mask, lo, hi, zp */
        "lsr   r11, r7, #1\n"
        "ldr   r2, [r3, #16]\n"
        "ldr   r1, [r3, #56]\n"
        "add   r3, r3, #60\n"
        "cmp   r1, #0\n"
        "beq   12f\n"
        "add   r1, r3, #32\n"                 /* the accumulators' end */
        "11:\n"                                 /* full int8 range: saturate, 4 per turn */
        DSP_REQUANT_SAT
        DSP_REQUANT_SAT
        DSP_REQUANT_SAT
        DSP_REQUANT_SAT
        "cmp   r3, r1\n"
        "bne   11b\n"
        "b     14f\n"
        "12:\n"                                 /* clamp to [lo, hi], then add zp */
        "add   r1, r3, #32\n"
        "13:\n"
        "ldr   r0, [r3], #4\n"
        DSP_REQUANT
        "cmp   r12, r8\n"
        "it    lt\n"
        "movlt r12, r8\n"
        "cmp   r12, r9\n"
        "it    gt\n"
        "movgt r12, r9\n"
        "add   r12, r12, r10\n"
        "strb  r12, [r2], #1\n"
        "cmp   r3, r1\n"
        "bne   13b\n"
        "14:\n"
        /* the next block */
        "ldr   r0, [sp]\n"
        "str   r2, [r0, #16]\n"
        "ldr   r1, [r0, #4]\n"
        "ldr   r3, [r0, #24]\n"
        "add   r1, r1, r3\n"
        "str   r1, [r0, #4]\n"
        "ldr   r1, [r0, #12]\n"
        "add   r1, r1, #32\n"
        "str   r1, [r0, #12]\n"
        "ldr   r1, [r0, #20]\n"
        "subs  r1, r1, #1\n"
        "str   r1, [r0, #20]\n"
        "bne   10b\n"
        "add   sp, sp, #4\n"
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n");
}
#else
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static TML_HOT void requant_block(const requant *qp, const int32_t *acc, int8_t *out, const int32_t bounds[3])
{
    requant q;
    q.mult = qp->mult;
    q.left = qp->left;
    q.right = qp->right;
    q.mask = qp->mask;
    const int32_t lo = bounds[0], hi = bounds[1], zp = bounds[2];
    for (int32_t k = 0; k < BLOCK; k++) {
        out[k] = clamp_s8(requant_tflm(&q, acc[k]), lo, hi, zp);
    }
}
#endif

/* Rows `o` to n_out, any layer: block by block (the path's mac_block, then requant_block or
 * finish), then the rows after the last full block one at a time. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static TML_HOT void fc_rows(const tml_fc_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                            const int32_t *mult, const int8_t *shift, int8_t *out, int32_t o)
{
    const int32_t n = p->n_in, n_out = p->n_out, zp = p->output_zp, lo = p->act_min - zp, hi = p->act_max - zp;
    /* n, n_out >= 1 (checked): shifts and masks, not signed division */
    const int32_t nq = (int32_t)((uint32_t)n >> 2), t = n & 3, full = n_out & ~(BLOCK - 1);
    /* the usual case, per-tensor scale and TFLite Micro rounding, requantizes a block at once */
    const int common = p->n_channels == 1 && p->rounding == TML_ROUNDING_TFLM;
    requant q;
    requant_setup(&q, mult[0], shift[0], p->rounding);
    const int32_t bounds[3] = {lo, hi, zp};
    int32_t acc[BLOCK];
    for (; o < full; o += BLOCK) {
        mac_block(x, w + o * n, nq, t, bias + o, acc);
        if (common) {
            requant_block(&q, acc, out + o, bounds);
        } else {
            finish(p, o, BLOCK, acc, mult, shift, &q, out);
        }
    }
    for (; o < n_out; o++) {
        acc[0] = mac_row(x, w + o * n, n, bias[o]);
        finish(p, o, 1, acc, mult, shift, &q, out);
    }
}

#if TML_PATH_DSP
/* The full blocks of the usual layer (per-tensor scale, TFLite Micro rounding, a multiplier
 * of at least 2^30, n_in a multiple of 4) through blocks_dsp; returns the rows done (0 for another layer). */
static inline int32_t fc_blocks_dsp(const tml_fc_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                                    const int32_t *mult, const int8_t *shift, int8_t *out)
{
    const int32_t n = p->n_in, full = p->n_out & ~(BLOCK - 1);
    /* DSP_REQUANT reads 2 mult as 2 mult - 2^32: mult in [2^30, 2^31), as QuantizeMultiplier
     * gives it (tml_fc_check allows any mult >= 0; others take fc_rows) */
    if ((n & 3) != 0 || full == 0 || p->n_channels != 1 || p->rounding != TML_ROUNDING_TFLM || mult[0] < (1 << 30)) {
        return 0;
    }
    const int32_t s0 = shift[0], zp = p->output_zp, right = s0 > 0 ? 0 : -s0;
    block_job job; /* field by field: an initializer can become a memset call */
    job.x = x;
    job.w = w;
    job.nq = (int32_t)((uint32_t)n >> 2);
    job.bias = bias;
    job.out = out;
    job.blocks = full / BLOCK;
    job.w_step = BLOCK * n;
    job.mult2 = (uint32_t)mult[0] << 1;
    job.left = s0 > 0 ? s0 : 0;
    job.right = right;
    job.mask = (int32_t)(((uint32_t)1 << right) - 1u);  /* as requant_setup */
    job.lo = p->act_min - zp;
    job.hi = p->act_max - zp;
    job.zp = zp;
    job.full_range = p->act_min == -128 && p->act_max == 127;
    blocks_dsp(&job);
    return full;
}
#endif

TML_HOT tml_status tml_fc_s8(const tml_fc_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int8_t *shift, int8_t *out)
{
    if (p == 0 || x == 0 || w == 0 || bias == 0 || mult == 0 || shift == 0 || out == 0) {
        return TML_ERR_NULL;
    }
    /* p, mult and shift passed tml_fc_check when the layer was prepared (tinyml.h) */
#if TML_PATH_DSP
    const int32_t o = fc_blocks_dsp(p, x, w, bias, mult, shift, out);
#else
    const int32_t o = 0;
#endif
    if (o < p->n_out) {
        fc_rows(p, x, w, bias, mult, shift, out, o);
    }
    return TML_OK;
}

const char *tml_fc_s8_variant(void)
{
    return TML_VARIANT;
}
