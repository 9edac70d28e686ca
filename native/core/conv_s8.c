/* CONV_2D, int8, as CMSIS-NN and TFLite Micro's optimized kernels do it: each output pixel's
 * patch gathered into a caller-owned scratch buffer (im2col), padded with the input zero point,
 * then multiplied by the weights through tml_fc_s8, so a convolution runs on the same per-CPU
 * row loops as a fully connected layer (fc_s8.c) and needs no code of its own for them. A 1x1
 * filter's patch is the input pixel itself (such a filter has no padding): no gathering. On
 * arm-dsp every layer takes a two-pixel kernel of its own instead (below). */
#include "kernel.h"

/* Loops, not memcpy/memset: a natmod and the emulated builds have no C library. GCC would turn
 * them back into calls. */
#if defined(__GNUC__) && !defined(__clang__)
#define TML_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TML_NO_LIBCALLS
#endif

/* One size on every core (a binding need not know which path it runs): two patches of K
 * inputs, K rounded up to 4, as int16, and 4 bytes to align them. arm-dsp uses all of it, 1x1
 * filters included (pair_stage); the other paths the first K bytes, none for a 1x1 filter. */
int32_t tml_conv_scratch_bytes(const tml_conv_params *p)
{
    if (p == 0 || !tml_conv_shape_ok(p)) {
        return 0;
    }
    const int32_t k = p->filter_h * p->filter_w * p->in_c;
    return 4 * ((k + 3) & ~3) + 4;
}

#if !TML_PATH_DSP
static TML_NO_LIBCALLS void fill(int8_t *dst, int32_t n, int8_t v)
{
    for (int32_t i = 0; i < n; i++) {
        dst[i] = v;
    }
}

static TML_NO_LIBCALLS void copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}

static int reads_in_place(const tml_conv_params *p)
{
    return p->filter_h == 1 && p->filter_w == 1;
}

/* Output pixel (oy, ox)'s patch in OHWI order: filter row by filter row, each the in-bounds
 * columns (contiguous in NHWC) between the padding's input_zp. */
static void gather_patch(const tml_conv_params *p, const int8_t *x, int32_t oy, int32_t ox, int8_t *patch)
{
    const int32_t c = p->in_c, row_bytes = p->filter_w * c, zp = p->input_zp;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
    const int32_t kx_hi = p->in_w - ix0 < p->filter_w ? p->in_w - ix0 : p->filter_w;
    for (int32_t ky = 0; ky < p->filter_h; ky++, patch += row_bytes) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= p->in_h) {
            fill(patch, row_bytes, (int8_t)zp);
            continue;
        }
        fill(patch, kx_lo * c, (int8_t)zp);
        copy(patch + kx_lo * c, x + (iy * p->in_w + ix0 + kx_lo) * c, (kx_hi - kx_lo) * c);
        fill(patch + kx_hi * c, (p->filter_w - kx_hi) * c, (int8_t)zp);
    }
}
#endif

#if TML_PATH_DSP
/* ---- arm-dsp: two output pixels per pass ----
 *
 * The two pixels' patches (A and B) are staged in the scratch as int16, K rounded up to 4: per
 * group of 4 inputs A's (x0, x2), (x1, x3), then B's, 16 bytes, what SXTB16 and SXTB16 ROR 8
 * give, so pair_block's LDM loads a group of both pixels and each weight word, split once,
 * serves both pixels' SMLADs (as CMSIS-NN's two-column kernel does). Requantization by
 * requant_fast (SMMULR) in the same call for each block of rows that pair_fast allows; other
 * blocks (LiteRT rounding, a left shift, a bias near 2^30) keep their accumulators for TFLite's
 * requantization in C. Special cases, each below with its reason: every full block of a pixel
 * pair in one call (pair_rows, its constants from a table when it fits: pair_rows_t), layers
 * with dead rows (live_rows), K = 8 (k8_pair16, k8_run16), and the staging of 1x1 inputs
 * (stage_1x1) and of an RGB image's 3x3 windows (stage_rgb) in assembly. */

/* Rows o .. o + count - 1 can be requantized in the assembly (requant_fast): TFLite Micro rounding,
 * every shift <= -1 and |acc| < 2^30: |bias| + K 128 128 (the patch is raw int8, the input
 * offset folded into the bias). Other rows (a converter's dead channels: zero weights, a bias of
 * 2^30 and a shift of -31, or a shift of 0) keep the accumulators for the general requantization
 * in C. */
static int pair_fast(const tml_conv_params *p, const int32_t *bias, const int8_t *shift, int32_t k, int32_t o,
                     int32_t count)
{
    if (p->rounding != TML_ROUNDING_TFLM) {
        return 0;
    }
    const uint32_t room = (1u << 30) - (uint32_t)k * 16384u;  /* k <= 65535 (checked) */
    for (int32_t r = o; r < o + count; r++) {
        const uint32_t b = bias[r] < 0 ? 0u - (uint32_t)bias[r] : (uint32_t)bias[r];
        if (shift[p->n_channels == 1 ? 0 : r] > -1 || b >= room) {
            return 0;
        }
    }
    return 1;
}

/* byte i of patch `which` (0: A, 1: B) in the interleaved int8 staging: 8 bytes per group */
#define STAGE_AT(which, i) (8 * ((i) >> 2) + 4 * (which) + ((i) & 3))

static TML_NO_LIBCALLS void stage_fill(int8_t *top, int32_t which, int32_t i, int32_t n, int8_t v)
{
    for (; n > 0; n--, i++) {
        top[STAGE_AT(which, i)] = v;
    }
}

static TML_NO_LIBCALLS void stage_copy(int8_t *top, int32_t which, int32_t i, const int8_t *src, int32_t n)
{
    for (; n > 0 && (i & 3); n--, i++) {
        top[STAGE_AT(which, i)] = *src++;
    }
    for (; n >= 4; n -= 4, i += 4, src += 4) {
        const uint32_t v = load32(src);
        memcpy(top + STAGE_AT(which, i), &v, 4);  /* one STR: the staging is word aligned */
    }
    for (; n > 0; n--, i++) {
        top[STAGE_AT(which, i)] = *src++;
    }
}

/* Pixel (oy, ox)'s patch (as gather_patch) into the interleaved int8 staging */
static void stage_patch(const tml_conv_params *p, const int8_t *x, int32_t oy, int32_t ox, int8_t *top,
                        int32_t which)
{
    const int32_t c = p->in_c, row_bytes = p->filter_w * c;
    const int8_t zp = (int8_t)p->input_zp;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
    const int32_t kx_hi = p->in_w - ix0 < p->filter_w ? p->in_w - ix0 : p->filter_w;
    int32_t i = 0;
    for (int32_t ky = 0; ky < p->filter_h; ky++, i += row_bytes) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= p->in_h) {
            stage_fill(top, which, i, row_bytes, zp);
            continue;
        }
        stage_fill(top, which, i, kx_lo * c, zp);
        stage_copy(top, which, i + kx_lo * c, x + (iy * p->in_w + ix0 + kx_lo) * c, (kx_hi - kx_lo) * c);
        stage_fill(top, which, i + kx_hi * c, (p->filter_w - kx_hi) * c, zp);
    }
}

/* Group g of a patch row whose bytes lo .. hi - 1 lie inside the input at x[base + byte] (the
 * others are the padding's zp), as one word */
static inline uint32_t row_word(const int8_t *x, int32_t base, int32_t g, int32_t lo, int32_t hi, int8_t zp)
{
    uint32_t v = 0;
    for (int32_t t = 3; t >= 0; t--) {
        const int32_t b = 4 * g + t;
        v = v << 8 | (uint8_t)(b >= lo && b < hi ? x[base + b] : zp);
    }
    return v;
}

/* n4 runs of 4 groups (16 bytes) from src widened into one pixel's halves of the int16 groups
 * (16 bytes apart in xs): per run four loads, SXTB16 twice and two stores per group, one loop
 * branch (GCC's code for the C loop took 11 cycles per group) */
static inline void widen_runs(const int8_t *src, uint32_t *xs, int32_t n4)
{
    uint32_t v0, v1, v2, v3, t;
    __asm__ volatile(
        "1:\n"
        "ldr   %[v0], [%[s]]\n"
        "ldr   %[v1], [%[s], #4]\n"
        "ldr   %[v2], [%[s], #8]\n"
        "ldr   %[v3], [%[s], #12]\n"
        "adds  %[s], %[s], #16\n"
        "sxtb16 %[t], %[v0]\n"
        "sxtb16 %[v0], %[v0], ror #8\n"
        "str   %[t], [%[x]]\n"
        "str   %[v0], [%[x], #4]\n"
        "sxtb16 %[t], %[v1]\n"
        "sxtb16 %[v1], %[v1], ror #8\n"
        "str   %[t], [%[x], #16]\n"
        "str   %[v1], [%[x], #20]\n"
        "sxtb16 %[t], %[v2]\n"
        "sxtb16 %[v2], %[v2], ror #8\n"
        "str   %[t], [%[x], #32]\n"
        "str   %[v2], [%[x], #36]\n"
        "sxtb16 %[t], %[v3]\n"
        "sxtb16 %[v3], %[v3], ror #8\n"
        "str   %[t], [%[x], #48]\n"
        "str   %[v3], [%[x], #52]\n"
        "adds  %[x], %[x], #64\n"
        "subs  %[n], %[n], #1\n"
        "bne   1b\n"
        : [s] "+r"(src), [x] "+r"(xs), [n] "+r"(n4), [v0] "=&r"(v0), [v1] "=&r"(v1), [v2] "=&r"(v2),
          [v3] "=&r"(v3), [t] "=&r"(t)
        :
        : "cc", "memory");
}

/* Pixel (oy, ox)'s patch widened straight into its halves of the int16 groups (xs: A's or B's
 * first group; 4 words per group) when every filter row is a whole number of groups (filter_w
 * in_c % 4 == 0): the groups inside the input one word load, SXTB16 twice and two stores each,
 * no int8 staging; the groups the padding touches byte by byte. */
static TML_NO_LIBCALLS void stage_wide(const tml_conv_params *p, const int8_t *x, int32_t oy, int32_t ox,
                                       uint32_t *xs)
{
    const int32_t c = p->in_c, gpr = p->filter_w * c / 4;
    const int8_t zp = (int8_t)p->input_zp;
    const uint32_t zz = (uint32_t)(uint16_t)zp * 0x10001u;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t lo = (ix0 < 0 ? -ix0 : 0) * c;
    const int32_t hi = (p->in_w - ix0 < p->filter_w ? p->in_w - ix0 : p->filter_w) * c;
    const int32_t g_lo = (lo + 3) >> 2, g_hi = hi >> 2;
    if (iy0 >= 0 && iy0 + p->filter_h <= p->in_h && lo == 0 && hi == 4 * gpr) {
        /* the window inside the input (most pixels): each filter row's groups in runs of 4 */
        const int32_t row_step = p->in_w * c, n4 = gpr >> 2, rest = gpr & 3;
        const int8_t *src = x + (iy0 * p->in_w + ix0) * c;
        for (int32_t ky = 0; ky < p->filter_h; ky++, src += row_step) {
            if (n4) {
                widen_runs(src, xs, n4);
                xs += 16 * n4;
            }
            const int8_t *s = src + 16 * n4;
            for (int32_t g = 0; g < rest; g++, xs += 4, s += 4) {
                const uint32_t v = load32(s);
                xs[0] = __sxtb16(v);
                xs[1] = sxtb16_ror8(v);
            }
        }
        return;
    }
    /* a row's groups: z_lo all padding, then up to g_in partly, the inside ones (n4 runs of 4
     * first), partly again up to z_hi, the rest padding */
    const int32_t g_in = g_lo < gpr ? g_lo : gpr;
    const int32_t z_lo = (lo >> 2) < g_in ? lo >> 2 : g_in;
    const int32_t z_hi = ((hi + 3) >> 2) > gpr ? gpr : ((hi + 3) >> 2) < g_hi ? g_hi : (hi + 3) >> 2;
    const int32_t n4 = g_hi > g_in ? (g_hi - g_in) >> 2 : 0;
    for (int32_t ky = 0; ky < p->filter_h; ky++) {
        const int32_t iy = iy0 + ky;
        if (iy < 0 || iy >= p->in_h) {
            for (int32_t g = 0; g < gpr; g++, xs += 4) {
                xs[0] = zz;
                xs[1] = zz;
            }
            continue;
        }
        const int32_t base = (iy * p->in_w + ix0) * c;
        int32_t g = 0;
        if (gpr < 4) {  /* a short row (KWS's 10x4 on one channel): group by group */
            for (; g < gpr; g++, xs += 4) {
                const uint32_t v = g >= g_lo && g < g_hi ? load32(x + base + 4 * g) : row_word(x, base, g, lo, hi, zp);
                xs[0] = __sxtb16(v);
                xs[1] = sxtb16_ror8(v);
            }
            continue;
        }
        for (; g < z_lo; g++, xs += 4) {
            xs[0] = zz;
            xs[1] = zz;
        }
        for (; g < g_in; g++, xs += 4) {
            const uint32_t v = row_word(x, base, g, lo, hi, zp);
            xs[0] = __sxtb16(v);
            xs[1] = sxtb16_ror8(v);
        }
        const int8_t *src = x + base + 4 * g;
        if (n4) {
            widen_runs(src, xs, n4);
            g += 4 * n4;
            xs += 16 * n4;
            src += 16 * n4;
        }
        for (; g < g_hi; g++, xs += 4, src += 4) {
            const uint32_t v = load32(src);
            xs[0] = __sxtb16(v);
            xs[1] = sxtb16_ror8(v);
        }
        for (; g < z_hi; g++, xs += 4) {
            const uint32_t v = row_word(x, base, g, lo, hi, zp);
            xs[0] = __sxtb16(v);
            xs[1] = sxtb16_ror8(v);
        }
        for (; g < gpr; g++, xs += 4) {
            xs[0] = zz;
            xs[1] = zz;
        }
    }
}

/* Pixel (oy, ox)'s patch as contiguous int8 (K bytes, the padding's zp), rows copied a word at
 * a time (unaligned loads and stores), for pair_stage_small */
static TML_NO_LIBCALLS void patch_bytes(const tml_conv_params *p, const int8_t *x, int32_t oy, int32_t ox,
                                        int8_t *dst)
{
    const int32_t c = p->in_c, row_bytes = p->filter_w * c;
    const int8_t zp = (int8_t)p->input_zp;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    if (iy0 >= 0 && ix0 >= 0 && iy0 + p->filter_h <= p->in_h && ix0 + p->filter_w <= p->in_w) {
        /* the window inside the input (most pixels): rows of whole words, then the row's last bytes */
        const int32_t row_step = p->in_w * c, words = row_bytes >> 2, tail = row_bytes & 3;
        const int8_t *src = x + (iy0 * p->in_w + ix0) * c;
        if (row_bytes == 9) {
            /* 3 columns of 3 channels (an RGB image's first layer): two words and a byte per row */
            for (int32_t ky = 0; ky < p->filter_h; ky++, src += row_step, dst += 9) {
                const uint32_t v0 = load32(src), v1 = load32(src + 4);
                memcpy(dst, &v0, 4);
                memcpy(dst + 4, &v1, 4);
                dst[8] = src[8];
            }
            return;
        }
        for (int32_t ky = 0; ky < p->filter_h; ky++, src += row_step) {
            const int8_t *s = src;
            for (int32_t i = 0; i < words; i++, s += 4, dst += 4) {
                const uint32_t v = load32(s);
                memcpy(dst, &v, 4);
            }
            for (int32_t i = 0; i < tail; i++) {
                *dst++ = *s++;
            }
        }
        return;
    }
    const int32_t lo = (ix0 < 0 ? -ix0 : 0) * c;
    const int32_t hi = (p->in_w - ix0 < p->filter_w ? p->in_w - ix0 : p->filter_w) * c;
    for (int32_t ky = 0; ky < p->filter_h; ky++, dst += row_bytes) {
        const int32_t iy = iy0 + ky;
        int32_t b = 0, end = row_bytes;
        if (iy >= 0 && iy < p->in_h) {
            const int8_t *src = x + (iy * p->in_w + ix0) * c;
            for (; b < lo; b++) {
                dst[b] = zp;
            }
            for (; b + 4 <= hi; b += 4) {
                const uint32_t v = load32(src + b);
                memcpy(dst + b, &v, 4);
            }
            for (; b < hi; b++) {
                dst[b] = src[b];
            }
        }
        for (; b < end; b++) {
            dst[b] = zp;
        }
    }
}

/* The int16 groups of pixels A and B for a small K % 4 != 0 patch (ng groups, at most
 * PAIR_SMALL_GROUPS): both patches contiguous on the stack first, their tails zero, then
 * widened group by group. */
#define PAIR_SMALL_GROUPS 16

/* pair_stage_small's usual case of an RGB image's first layer (3x3 on 3 channels, K = 27 as 7
 * groups, the last byte 0), both windows inside the input: each patch row is 9 bytes at a, a +
 * row_step, a + 2 row_step, and each group one word load (two rows' bytes joined by BFI where a
 * group crosses a row), split here. r0/r1 A's and B's row 0, r8/r9 A's rows 1 and 2, r10/r11
 * B's; no byte past a window is read. */
#define RGB_SPLIT \
    "sxtb16 r4, r12\n" \
    "sxtb16 r5, r12, ror #8\n" \
    "sxtb16 r6, lr\n" \
    "sxtb16 r7, lr, ror #8\n" \
    "stm   r3!, {r4, r5, r6, r7}\n"

__attribute__((naked, noinline))
static void stage_rgb(const int8_t *a, const int8_t *b, int32_t row_step, uint32_t *xs)
{
    (void)a;
    (void)b;
    (void)row_step;
    (void)xs;
    __asm__ volatile(
        ".syntax unified\n"
        "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"
        "add   r8, r0, r2\n"
        "add   r9, r8, r2\n"
        "add   r10, r1, r2\n"
        "add   r11, r10, r2\n"
        "ldr   r12, [r0]\n"                   /* group 0: row 0, bytes 0-3 */
        "ldr   lr, [r1]\n"
        RGB_SPLIT
        "ldr   r12, [r0, #4]\n"               /* group 1: row 0, bytes 4-7 */
        "ldr   lr, [r1, #4]\n"
        RGB_SPLIT
        "ldr   r12, [r8, #-1]\n"              /* group 2: row 0 byte 8, row 1 bytes 0-2 */
        "ldrb  r2, [r0, #8]\n"
        "bfi   r12, r2, #0, #8\n"
        "ldr   lr, [r10, #-1]\n"
        "ldrb  r2, [r1, #8]\n"
        "bfi   lr, r2, #0, #8\n"
        RGB_SPLIT
        "ldr   r12, [r8, #3]\n"               /* group 3: row 1, bytes 3-6 */
        "ldr   lr, [r10, #3]\n"
        RGB_SPLIT
        "ldr   r12, [r9, #-2]\n"              /* group 4: row 1 bytes 7-8, row 2 bytes 0-1 */
        "ldrh  r2, [r8, #7]\n"
        "bfi   r12, r2, #0, #16\n"
        "ldr   lr, [r11, #-2]\n"
        "ldrh  r2, [r10, #7]\n"
        "bfi   lr, r2, #0, #16\n"
        RGB_SPLIT
        "ldr   r12, [r9, #2]\n"               /* group 5: row 2, bytes 2-5 */
        "ldr   lr, [r11, #2]\n"
        RGB_SPLIT
        "ldr   r12, [r9, #5]\n"               /* group 6: row 2, bytes 6-8, then 0 */
        "ldr   lr, [r11, #5]\n"
        "lsr   r12, r12, #8\n"
        "lsr   lr, lr, #8\n"
        RGB_SPLIT
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n");
}

/* the window of output pixel (oy, ox) inside the input: its first byte, else 0 */
static inline const int8_t *window_inside(const tml_conv_params *p, const int8_t *x, int32_t oy, int32_t ox)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    if (iy0 >= 0 && ix0 >= 0 && iy0 + p->filter_h <= p->in_h && ix0 + p->filter_w <= p->in_w) {
        return x + (iy0 * p->in_w + ix0) * p->in_c;
    }
    return 0;
}

static TML_NO_LIBCALLS void pair_stage_small(const tml_conv_params *p, const int8_t *x, int32_t pa, int32_t pb,
                                             int32_t k, int32_t ng, uint32_t *xs)
{
    if (k == 27 && p->filter_h == 3 && p->filter_w * p->in_c == 9) {
        const int32_t oy = pa / p->out_w, ox = pa - oy * p->out_w;  /* pb is pa or pa + 1 */
        const int8_t *wa = window_inside(p, x, oy, ox);
        const int8_t *wb = pb == pa ? wa : ox + 1 < p->out_w ? window_inside(p, x, oy, ox + 1) :
                                                              window_inside(p, x, oy + 1, 0);
        if (wa && wb) {
            stage_rgb(wa, wb, p->in_w * p->in_c, xs);
            return;
        }
    }
    uint32_t buf[2 * PAIR_SMALL_GROUPS];
    int8_t *a = (int8_t *)buf, *b = (int8_t *)(buf + ng);
    buf[ng - 1] = 0;
    buf[2 * ng - 1] = 0;
    patch_bytes(p, x, pa / p->out_w, pa % p->out_w, a);
    patch_bytes(p, x, pb / p->out_w, pb % p->out_w, b);
    for (int32_t j = 0; j < ng; j++, xs += 4) {
        const uint32_t va = buf[j], vb = buf[ng + j];
        xs[0] = __sxtb16(va);
        xs[1] = sxtb16_ror8(va);
        xs[2] = __sxtb16(vb);
        xs[3] = sxtb16_ror8(vb);
    }
    (void)k;
}

/* pair_stage's usual case in assembly (a 1x1 stride-1 layer, in_c % 4 = 0: the pixels' inputs
 * as they are): nq groups of both pixels, two per turn, without pair_stage's frame and tests. */
__attribute__((naked, noinline))
static void stage_1x1(const int8_t *a, const int8_t *b, int32_t nq, uint32_t *xs)
{
    (void)a;
    (void)b;
    (void)nq;
    (void)xs;
    __asm__ volatile(
        ".syntax unified\n"
        "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"
        "lsrs  r2, r2, #1\n"                     /* turns of two groups; C: an odd one first */
        "bcc   2f\n"
        "ldr   r4, [r0], #4\n"
        "ldr   r6, [r1], #4\n"
        "sxtb16 r5, r4, ror #8\n"
        "sxtb16 r4, r4\n"
        "sxtb16 r7, r6, ror #8\n"
        "sxtb16 r6, r6\n"
        "stm   r3!, {r4, r5, r6, r7}\n"
        "2:\n"
        "cbz   r2, 3f\n"
        "1:\n"
        "ldr   r4, [r0]\n"                       /* unaligned loads: no LDM */
        "ldr   r8, [r0, #4]\n"
        "ldr   r6, [r1]\n"
        "ldr   r10, [r1, #4]\n"
        "adds  r0, r0, #8\n"
        "adds  r1, r1, #8\n"
        "sxtb16 r5, r4, ror #8\n"
        "sxtb16 r4, r4\n"
        "sxtb16 r7, r6, ror #8\n"
        "sxtb16 r6, r6\n"
        "sxtb16 r9, r8, ror #8\n"
        "sxtb16 r8, r8\n"
        "sxtb16 r11, r10, ror #8\n"
        "sxtb16 r10, r10\n"
        "stm   r3!, {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        "subs  r2, r2, #1\n"
        "bne   1b\n"
        "3:\n"
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n");
}

/* The int16 groups of pixels A and B (ng groups, the last zero padded past k) into xs. A 1x1
 * filter's patches are the input pixels themselves; others are staged as int8 in the upper half
 * of xs first and widened forward in place: group j's 8 bytes sit at 8 ng + 8 j, at or above
 * the 16 bytes it becomes (16 j + 16 <= 8 ng + 8 j + 8 for j < ng), and are read before. */
static TML_NO_LIBCALLS void pair_stage(const tml_conv_params *p, const int8_t *x, int32_t pa, int32_t pb,
                                       int32_t k, int32_t ng, uint32_t *xs)
{
    int32_t nq = k >> 2, t = k & 3;
    const int8_t *a, *b;
    int32_t step;
    if (p->filter_h == 1 && p->filter_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->out_w == p->in_w) {
        a = x + pa * p->in_c;  /* the output pixels are the input's: no division */
        b = x + pb * p->in_c;
        if (t == 0) {
            stage_1x1(a, b, nq, xs);  /* nq >= 1: in_c >= 1 */
            return;
        }
        step = 4;
    } else if (p->filter_h == 1 && p->filter_w == 1) {
        const int32_t ow = p->out_w;
        a = x + ((pa / ow) * p->stride_h * p->in_w + (pa % ow) * p->stride_w) * p->in_c;
        b = x + ((pb / ow) * p->stride_h * p->in_w + (pb % ow) * p->stride_w) * p->in_c;
        step = 4;
    } else if (t && ng <= PAIR_SMALL_GROUPS) {
        pair_stage_small(p, x, pa, pb, k, ng, xs);
        return;
    } else if ((p->filter_w * p->in_c & 3) == 0) {
        stage_wide(p, x, pa / p->out_w, pa % p->out_w, xs);
        stage_wide(p, x, pb / p->out_w, pb % p->out_w, xs + 2);
        return;
    } else {
        int8_t *top = (int8_t *)(xs + 2 * ng);
        stage_patch(p, x, pa / p->out_w, pa % p->out_w, top, 0);
        stage_patch(p, x, pb / p->out_w, pb % p->out_w, top, 1);
        stage_fill(top, 0, k, 4 * ng - k, 0);
        stage_fill(top, 1, k, 4 * ng - k, 0);
        a = top;
        b = top + 4;
        step = 8;
        if (t) {
            t = 0;
            nq = ng;  /* the staged tail is already padded */
        }
    }
    int32_t j = 0;
    for (; j < nq; j++, a += step, b += step, xs += 4) {
        const uint32_t va = load32(a), vb = load32(b);
        xs[0] = __sxtb16(va);
        xs[1] = sxtb16_ror8(va);
        xs[2] = __sxtb16(vb);
        xs[3] = sxtb16_ror8(vb);
    }
    if (t) {  /* a 1x1 filter's last in_c % 4 inputs: no word load past the pixel */
        const int32_t a1 = t > 1 ? a[1] : 0, a2 = t > 2 ? a[2] : 0;
        const int32_t b1 = t > 1 ? b[1] : 0, b2 = t > 2 ? b[2] : 0;
        xs[0] = (uint32_t)(uint16_t)a[0] | (uint32_t)a2 << 16;
        xs[1] = (uint32_t)(uint16_t)a1;
        xs[2] = (uint32_t)(uint16_t)b[0] | (uint32_t)b2 << 16;
        xs[3] = (uint32_t)(uint16_t)b1;
    }
}


/* One group of 4 inputs of both pixels against 2 rows (r12, lr their weight words at OFF and
 * OFF + 4 from r1): r8-r11 A's and B's halfword pairs (XOFF from r0), r4/r5 row 0 (A, B), r6/r7
 * row 1. Six single loads without writeback, not an LDM and two loads: one load cycle less
 * under the M4's pipelining of loads; r0 steps once per turn. */
#define PAIR_GROUP(OFF, XOFF) \
    "ldr   r12, [r1, #" #OFF "]\n" \
    "ldr   lr, [r1, #" #OFF "+4]\n" \
    GROUP_MACS(XOFF)

/* The rest of a group, shared with LIVE_GROUP: both pixels' 4 inputs loaded, 8 SMLADs against
 * the two rows' weight words in r12 and lr. */
#define GROUP_MACS(XOFF) \
    "ldr   r8, [r0, #" #XOFF "]\n" \
    "ldr   r9, [r0, #" #XOFF "+4]\n" \
    "ldr   r10, [r0, #" #XOFF "+8]\n" \
    "ldr   r11, [r0, #" #XOFF "+12]\n" \
    "sxtb16 r3, r12\n" \
    "smlad r4, r3, r8, r4\n" \
    "smlad r5, r3, r10, r5\n" \
    "sxtb16 r12, r12, ror #8\n" \
    "smlad r4, r12, r9, r4\n" \
    "smlad r5, r12, r11, r5\n" \
    "sxtb16 r3, lr\n" \
    "smlad r6, r3, r8, r6\n" \
    "smlad r7, r3, r10, r7\n" \
    "sxtb16 lr, lr, ror #8\n" \
    "smlad r6, lr, r9, r6\n" \
    "smlad r7, lr, r11, r7\n"

typedef struct {
    const uint32_t *xs;    /* 0: the staged groups (word aligned) */
    const int8_t *w;       /* 4: the block's weights */
    int32_t nq;            /* 8: groups of 4 inputs, >= 0 */
    int32_t *init;         /* 12: the accumulators' start, row r's A at 2 r, B at 2 r + 1 */
    const int32_t *mult;   /* 16: the block's first row's multiplier and shift */
    const int8_t *shift;   /* 20 */
    int32_t qstep;         /* 24: 1 per-channel, 0 per-tensor */
    int8_t *oa;            /* 28: the block's outputs of pixel A, and B (A's again for a lone pixel) */
    int8_t *ob;            /* 32 */
    int32_t zp2;           /* 36: 2 output_zp + 1 */
    int32_t lo;            /* 40: act_min, act_max */
    int32_t hi;            /* 44 */
    int32_t full;          /* 48: act range [-128, 127]: SSAT alone clamps */
    int32_t raw;           /* 52: leave the accumulators in init (pair_fast failed): C requantizes */
    uint32_t skip;         /* 56: bit rp: row pair rp's weights are all zero, its accumulators init's */
} pair_job;

/* requant_fast's RoundingDivideByPOT(high, right) + zp in three steps: with h = high + (high < 0
 * ? -1 : 0) and q = h >> (right - 1), it is floor((q + 1) / 2) (nested floors), so
 * SSAT #8 of (q + 2 zp + 1) ASR 1 gives it plus zp, clamped to int8. A: the accumulator, M the
 * multiplier, R right - 1, r12 2 zp + 1. */
#define PAIR_REQUANT(A, M, R) \
    "lsl   " A ", " A ", #1\n" \
    "smmulr " A ", " A ", " M "\n" \
    "add   " A ", " A ", " A ", asr #31\n" \
    "asr   " A ", " A ", " R "\n" \
    "add   " A ", " A ", r12\n" \
    "ssat  " A ", #8, " A ", asr #1\n"
#define PAIR_CLAMP(A) \
    "cmp   " A ", r2\n" \
    "it    lt\n" \
    "movlt " A ", r2\n" \
    "cmp   " A ", r3\n" \
    "it    gt\n" \
    "movgt " A ", r3\n"

/* A block's 8 rows for both pixels, two rows per pass over the staged groups (four groups per
 * turn), each pass's four outputs requantized and stored. pair_block is the usual block;
 * pair_block_any also skips the row pairs job->skip names and, with job->raw, leaves the
 * accumulators in init instead (the tests cost the usual block 10 cycles per row pair). */
#define PAIR_ENTRY \
    ".syntax unified\n" \
    "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n" \
    "movs  r3, #0\n" \
    "push  {r0, r3}\n"                     /* [sp] the job, [sp, #4] the row pair rp */ \
    "10:\n" \
    "ldr   r0, [sp]\n" \
    "ldr   r3, [sp, #4]\n" \
    "ldr   r12, [r0, #12]\n" \
    "add   r12, r12, r3, lsl #4\n" \
    "ldm   r12, {r4, r5, r6, r7}\n"
#define PAIR_SKIP \
    "ldr   r1, [r0, #56]\n" \
    "lsr   r1, r1, r3\n" \
    "tst   r1, #1\n" \
    "bne   4f\n"
#define PAIR_MACS \
    "ldr   r1, [r0, #4]\n" \
    "add   r1, r1, r3, lsl #3\n"            /* rows 2 rp, 2 rp + 1: 8 rp bytes in */ \
    "ldr   r2, [r0, #8]\n" \
    "ldr   r0, [r0, #0]\n" \
    "lsls  r12, r2, #31\n"                 /* nq bit 0 to N, bit 1 to C */ \
    "add   r2, r0, r2, lsl #4\n"            /* xs's end */ \
    "bpl   1f\n" \
    PAIR_GROUP(0, 0) \
    "add   r0, r0, #16\n"                  /* keeps C */ \
    "add   r1, r1, #32\n" \
    "1:\n" \
    "bcc   2f\n" \
    PAIR_GROUP(0, 0) \
    PAIR_GROUP(32, 16) \
    "add   r0, r0, #32\n" \
    "add   r1, r1, #64\n" \
    "2:\n" \
    "cmp   r0, r2\n" \
    "beq   4f\n" \
    "3:\n" \
    PAIR_GROUP(0, 0) \
    PAIR_GROUP(32, 16) \
    PAIR_GROUP(64, 32) \
    PAIR_GROUP(96, 48) \
    "adds  r0, r0, #64\n" \
    "adds  r1, r1, #128\n" \
    "cmp   r0, r2\n" \
    "bne   3b\n" \
    "4:\n" \
    "ldr   r0, [sp]\n" \
    "ldr   r3, [sp, #4]\n"
#define PAIR_RAW \
    "ldr   r1, [r0, #52]\n" \
    "cbz   r1, 6f\n" \
    "ldr   r12, [r0, #12]\n"               /* raw: back where they started */ \
    "add   r12, r12, r3, lsl #4\n" \
    "stm   r12, {r4, r5, r6, r7}\n" \
    "b     7f\n" \
    "6:\n"
#define PAIR_STORE \
    "ldr   r1, [r0, #16]\n" \
    "ldr   r2, [r0, #20]\n" \
    "ldr   r12, [r0, #24]\n" \
    "mul   lr, r3, r12\n" \
    "lsl   lr, lr, #1\n"                    /* row 2 rp's constants (row 0's per-tensor) */ \
    "ldr   r8, [r1, lr, lsl #2]\n" \
    "ldrsb r9, [r2, lr]\n" \
    "add   lr, lr, r12\n" \
    "ldr   r10, [r1, lr, lsl #2]\n" \
    "ldrsb r11, [r2, lr]\n" \
    "mvn   r9, r9\n"                        /* -shift - 1 = right - 1 */ \
    "mvn   r11, r11\n" \
    "ldr   r12, [r0, #36]\n" \
    PAIR_REQUANT("r4", "r8", "r9") \
    PAIR_REQUANT("r5", "r8", "r9") \
    PAIR_REQUANT("r6", "r10", "r11") \
    PAIR_REQUANT("r7", "r10", "r11") \
    "ldr   r1, [r0, #48]\n" \
    "cbnz  r1, 5f\n" \
    "ldr   r2, [r0, #40]\n" \
    "ldr   r3, [r0, #44]\n" \
    PAIR_CLAMP("r4") \
    PAIR_CLAMP("r5") \
    PAIR_CLAMP("r6") \
    PAIR_CLAMP("r7") \
    "5:\n" \
    "ldr   r3, [sp, #4]\n" \
    "ldr   r1, [r0, #28]\n" \
    "add   r1, r1, r3, lsl #1\n" \
    "strb  r4, [r1]\n" \
    "strb  r6, [r1, #1]\n" \
    "ldr   r1, [r0, #32]\n" \
    "add   r1, r1, r3, lsl #1\n" \
    "strb  r5, [r1]\n" \
    "strb  r7, [r1, #1]\n" \
    "7:\n" \
    "adds  r3, r3, #1\n" \
    "str   r3, [sp, #4]\n" \
    "cmp   r3, #4\n" \
    "bne   10b\n" \
    "add   sp, sp, #8\n" \
    "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n"

__attribute__((naked, noinline))
static void pair_block(pair_job *job)
{
    (void)job;
    __asm__ volatile(PAIR_ENTRY PAIR_MACS PAIR_STORE);
}

__attribute__((naked, noinline))
static void pair_block_any(pair_job *job)
{
    (void)job;
    __asm__ volatile(PAIR_ENTRY PAIR_SKIP PAIR_MACS PAIR_RAW PAIR_STORE);
}

/* ---- every full block of a pixel pair in one call (pair_rows) ----
 *
 * The usual layer (k % 4 == 0, every row inside requant_fast, no dead rows) runs all its full
 * blocks for a pixel pair in one assembly call: each row pair's accumulators start at its two
 * biases (loaded by LDRD), its requantization constants and outputs are walked by pointers kept
 * in the job, and the next row pair's weights are 8 bytes on (32 k / 4 - 24 at a block's end).
 * This drops pair_block's per-block C (the accumulators' start, the job's pointers, the call)
 * and its per-row-pair address arithmetic. */
typedef struct {
    const uint32_t *xs;    /* 0: the staged groups */
    const uint32_t *xe;    /* 4: their end (xs + 4 nq) */
    const int8_t *w;       /* 8: the row pair's weights */
    const int32_t *bias;   /* 12: the row pair's biases */
    const int32_t *mult;   /* 16: its multipliers (steps 8 qstep bytes) */
    const int8_t *shift;   /* 20: its shifts (steps 2 qstep) */
    int32_t qstep;         /* 24: 1 per-channel, 0 per-tensor */
    int8_t *oa;            /* 28: its outputs of pixel A, and B (A's again for a lone pixel) */
    int8_t *ob;            /* 32 */
    int32_t zp2;           /* 36: 2 output_zp + 1 */
    int32_t lo;            /* 40: act_min, act_max (pair_rows_clamp) */
    int32_t hi;            /* 44 */
    int32_t left;          /* 48: row pairs left, 4 per block, > 0 */
    int32_t jump;          /* 52: 8 k - 24: from a block's last row pair to the next block */
} rows_job;

#define ROWS_ENTRY \
    ".syntax unified\n" \
    "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n" \
    "sub   sp, sp, #64\n"                  /* the job copied to [sp]: no register holds it */ \
    "ldm   r0!, {r1, r2, r3, r4, r5, r6, r7}\n" \
    "stm   sp, {r1, r2, r3, r4, r5, r6, r7}\n" \
    "ldm   r0, {r1, r2, r3, r4, r5, r6, r7}\n" \
    "add   r12, sp, #28\n" \
    "stm   r12, {r1, r2, r3, r4, r5, r6, r7}\n" \
    /* nq % 8 = r > 0: every row pair enters the loop at group 8 - r, x and w biased back by \
     * 8 - r groups once here (the frame's copies), the entry kept at [sp, #56] */ \
    "adr   r3, 3f\n" \
    "orr   r3, r3, #1\n"                   /* LDR PC: a Thumb address */ \
    "ldrd  r0, r2, [sp]\n"                 /* xs, xe */ \
    "sub   r2, r2, r0\n" \
    "ubfx  r12, r2, #4, #3\n" \
    "cmp   r12, #0\n" \
    "beq   1f\n" \
    "rsb   r12, r12, #8\n" \
    "sub   r0, r0, r12, lsl #4\n" \
    "str   r0, [sp]\n" \
    "ldr   r1, [sp, #8]\n" \
    "sub   r1, r1, r12, lsl #5\n" \
    "str   r1, [sp, #8]\n" \
    "add   r12, r12, r12, lsl #3\n" \
    "add   r3, r3, r12, lsl #3\n"          /* every PAIR_GROUP is 72 bytes (18 32-bit instructions) */ \
    "1:\n" \
    "str   r3, [sp, #56]\n" \
    "10:\n" \
    "ldr   r12, [sp, #12]\n" \
    "ldr   r1, [sp, #8]\n" \
    "ldr   r2, [sp, #4]\n" \
    "ldrd  r4, r6, [r12], #8\n"           /* both rows' biases */ \
    "str   r12, [sp, #12]\n" \
    "ldr   r0, [sp, #0]\n" \
    "mov   r5, r4\n" \
    "mov   r7, r6\n" \
    "ldr   pc, [sp, #56]\n" \
    ".p2align 2\n" \
    "3:\n" \
    PAIR_GROUP(0, 0) \
    PAIR_GROUP(32, 16) \
    PAIR_GROUP(64, 32) \
    PAIR_GROUP(96, 48) \
    PAIR_GROUP(128, 64) \
    PAIR_GROUP(160, 80) \
    PAIR_GROUP(192, 96) \
    PAIR_GROUP(224, 112) \
    ".if (. - 3b) != 8 * 72\n"             /* the jump at 6 below counts on it */ \
    ".error \"PAIR_GROUP must be 72 bytes: pair_rows jumps into its loop\"\n" \
    ".endif\n" \
    "adds  r0, r0, #128\n" \
    "adds  r1, r1, #256\n" \
    "cmp   r0, r2\n" \
    "bne   3b\n" \
    "4:\n"
/* the row pair's requantization constants from mult and shift (qstep apart) */
#define ROWS_CONST \
    "ldr   r1, [sp, #16]\n" \
    "ldr   r2, [sp, #24]\n" \
    "ldr   r3, [sp, #20]\n" \
    "ldr   r8, [r1]\n" \
    "ldr   r10, [r1, r2, lsl #2]\n" \
    "ldrsb r9, [r3]\n" \
    "ldrsb r11, [r3, r2]\n" \
    "add   r1, r1, r2, lsl #3\n" \
    "add   r3, r3, r2, lsl #1\n" \
    "str   r1, [sp, #16]\n" \
    "str   r3, [sp, #20]\n" \
    "mvn   r9, r9\n"                        /* -shift - 1 = right - 1 */ \
    "mvn   r11, r11\n"
/* ... or from a table staged once per call (rows_table): mult, right - 1 of both rows */
#define ROWS_CONST_TABLE \
    "ldr   r1, [sp, #16]\n" \
    "ldm   r1!, {r8, r9, r10, r11}\n" \
    "str   r1, [sp, #16]\n"
#define ROWS_REQ \
    "ldr   r12, [sp, #36]\n" \
    PAIR_REQUANT("r4", "r8", "r9") \
    PAIR_REQUANT("r5", "r8", "r9") \
    PAIR_REQUANT("r6", "r10", "r11") \
    PAIR_REQUANT("r7", "r10", "r11")
#define ROWS_CLAMP \
    "ldr   r2, [sp, #40]\n" \
    "ldr   r3, [sp, #44]\n" \
    PAIR_CLAMP("r4") \
    PAIR_CLAMP("r5") \
    PAIR_CLAMP("r6") \
    PAIR_CLAMP("r7")
#define ROWS_NEXT \
    "ldr   r1, [sp, #28]\n" \
    "ldr   r2, [sp, #32]\n" \
    "strb  r6, [r1, #1]\n" \
    "strb  r4, [r1], #2\n" \
    "strb  r7, [r2, #1]\n" \
    "strb  r5, [r2], #2\n" \
    "str   r1, [sp, #28]\n" \
    "str   r2, [sp, #32]\n" \
    "ldr   r1, [sp, #8]\n" \
    "ldr   r2, [sp, #48]\n" \
    "ldr   r3, [sp, #52]\n" \
    "subs  r2, r2, #1\n" \
    "beq   5f\n" \
    "str   r2, [sp, #48]\n" \
    "tst   r2, #3\n" \
    "ite   eq\n" \
    "addeq r1, r1, r3\n" \
    "addne r1, r1, #8\n" \
    "str   r1, [sp, #8]\n" \
    "b     10b\n" \
    "5:\n" \
    "add   sp, sp, #64\n" \
    "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n"

__attribute__((naked, noinline))
static void pair_rows(rows_job *job)
{
    (void)job;
    __asm__ volatile(ROWS_ENTRY ROWS_CONST ROWS_REQ ROWS_NEXT);
}

__attribute__((naked, noinline))
static void pair_rows_clamp(rows_job *job)
{
    (void)job;
    __asm__ volatile(ROWS_ENTRY ROWS_CONST ROWS_REQ ROWS_CLAMP ROWS_NEXT);
}

/* job->mult is a rows_table: 16 bytes per row pair */
__attribute__((naked, noinline))
static void pair_rows_t(rows_job *job)
{
    (void)job;
    __asm__ volatile(ROWS_ENTRY ROWS_CONST_TABLE ROWS_REQ ROWS_NEXT);
}

__attribute__((naked, noinline))
static void pair_rows_t_clamp(rows_job *job)
{
    (void)job;
    __asm__ volatile(ROWS_ENTRY ROWS_CONST_TABLE ROWS_REQ ROWS_CLAMP ROWS_NEXT);
}

/* rows 0 .. full - 1's requant_fast constants in row pairs for pair_rows_t: mult and right - 1
 * (~shift) of the pair's first row, then of its second */
static TML_NO_LIBCALLS void rows_table(const int32_t *mult, const int8_t *shift, int32_t qstep, int32_t full,
                                       int32_t *tbl)
{
    for (int32_t o = 0; o < full; o++, tbl += 2) {
        tbl[0] = mult[qstep * o];
        tbl[1] = ~(int32_t)shift[qstep * o];
    }
}

/* ---- layers with dead rows: the live rows two at a time (live_rows) ----
 *
 * VWW's later pointwise layers have up to 234 dead rows of 256 (find_dead), spread over every
 * block, so pair_block_any ran nearly every row pair (a pair is skipped only when both of its
 * rows are dead) behind pair_slow's per-block set-up in C. When every live row is inside
 * requant_fast, K % 4 = 0, the rows are whole blocks (out_c % 8 = 0, at most PAIR_DEAD_ROWS) and
 * the scales per channel, each pixel pair's outputs start as the dead rows' constants (dead_v,
 * copied) and one call runs the live rows in pairs of any two (the last one twice when their
 * number is odd): each row of a pair has its own weight pointer (row o's group j at
 * w + (o / 8) 8 k + 4 (o % 8) + 32 j), so a pair's MACs are pair_rows' with the second weight
 * word read through another register. */
typedef struct {
    const uint32_t *xs;    /* 0: the staged groups */
    const uint32_t *xe;    /* 4: their end (xs + 4 nq) */
    const uint8_t *list;   /* 8: the live rows, in pairs */
    const uint8_t *end;    /* 12: the list's end (an even number of rows on, > list) */
    const int8_t *w;       /* 16: the layer's weights */
    int32_t k8;            /* 20: 8 k: from a block to the next */
    const int32_t *bias;   /* 24 */
    const int32_t *mult;   /* 28: per channel */
    const int8_t *shift;   /* 32 */
    int8_t *oa;            /* 36: pixel A's outputs, and B's (A's again for a lone pixel) */
    int8_t *ob;            /* 40 */
    int32_t zp2;           /* 44: 2 output_zp + 1 */
    int32_t lo;            /* 48: act_min, act_max (live_rows_clamp) */
    int32_t hi;            /* 52 */
    int32_t pad_[2];       /* 56: the frame's loop entry and weight bias */
} live_job;

/* PAIR_GROUP with row 0's weights at r1 and row 1's at r2 */
#define LIVE_GROUP(OFF, XOFF) \
    "ldr   r12, [r1, #" #OFF "]\n" \
    "ldr   lr, [r2, #" #OFF "]\n" \
    GROUP_MACS(XOFF)

/* The frame: the job's first 14 words, [sp, #56] the loop's entry, [sp, #60] the bytes the
 * weight pointers start before the rows (8 - nq % 8 groups when nq % 8 > 0, as pair_rows). */
#define LIVE_ENTRY \
    ".syntax unified\n" \
    "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n" \
    "sub   sp, sp, #64\n" \
    "ldm   r0!, {r1, r2, r3, r4, r5, r6, r7}\n" \
    "stm   sp, {r1, r2, r3, r4, r5, r6, r7}\n" \
    "ldm   r0, {r1, r2, r3, r4, r5, r6, r7}\n" \
    "add   r12, sp, #28\n" \
    "stm   r12, {r1, r2, r3, r4, r5, r6, r7}\n" \
    "adr   r3, 3f\n" \
    "orr   r3, r3, #1\n"                   /* LDR PC: a Thumb address */ \
    "ldrd  r0, r2, [sp]\n"                 /* xs, xe */ \
    "sub   r2, r2, r0\n" \
    "ubfx  r12, r2, #4, #3\n" \
    "movs  r1, #0\n" \
    "cmp   r12, #0\n" \
    "beq   1f\n" \
    "rsb   r12, r12, #8\n" \
    "sub   r0, r0, r12, lsl #4\n" \
    "str   r0, [sp]\n" \
    "lsl   r1, r12, #5\n" \
    "add   r12, r12, r12, lsl #3\n" \
    "add   r3, r3, r12, lsl #3\n"          /* every LIVE_GROUP is 72 bytes */ \
    "1:\n" \
    "str   r3, [sp, #56]\n" \
    "str   r1, [sp, #60]\n" \
    "10:\n" \
    "ldr   r12, [sp, #8]\n" \
    "ldrb  r10, [r12], #1\n"               /* the pair's rows */ \
    "ldrb  r11, [r12], #1\n" \
    "str   r12, [sp, #8]\n" \
    "ldrd  r8, r9, [sp, #16]\n"            /* w, 8 k */ \
    "lsr   r1, r10, #3\n" \
    "mla   r1, r1, r9, r8\n" \
    "and   r3, r10, #7\n" \
    "add   r1, r1, r3, lsl #2\n" \
    "lsr   r2, r11, #3\n" \
    "mla   r2, r2, r9, r8\n" \
    "and   r3, r11, #7\n" \
    "add   r2, r2, r3, lsl #2\n" \
    "ldr   r3, [sp, #60]\n" \
    "sub   r1, r1, r3\n" \
    "sub   r2, r2, r3\n" \
    "ldr   r12, [sp, #24]\n" \
    "ldr   r4, [r12, r10, lsl #2]\n" \
    "ldr   r6, [r12, r11, lsl #2]\n" \
    "mov   r5, r4\n" \
    "mov   r7, r6\n" \
    "ldr   r0, [sp, #0]\n" \
    "ldr   pc, [sp, #56]\n" \
    ".p2align 2\n" \
    "3:\n" \
    LIVE_GROUP(0, 0) \
    LIVE_GROUP(32, 16) \
    LIVE_GROUP(64, 32) \
    LIVE_GROUP(96, 48) \
    LIVE_GROUP(128, 64) \
    LIVE_GROUP(160, 80) \
    LIVE_GROUP(192, 96) \
    LIVE_GROUP(224, 112) \
    ".if (. - 3b) != 8 * 72\n" \
    ".error \"LIVE_GROUP must be 72 bytes: live_rows jumps into its loop\"\n" \
    ".endif\n" \
    "adds  r0, r0, #128\n" \
    "adds  r1, r1, #256\n" \
    "adds  r2, r2, #256\n" \
    "ldr   r3, [sp, #4]\n" \
    "cmp   r0, r3\n" \
    "bne   3b\n" \
    "ldr   r12, [sp, #8]\n" \
    "ldrb  r2, [r12, #-2]\n" \
    "ldrb  r3, [r12, #-1]\n" \
    "ldr   r1, [sp, #28]\n" \
    "ldr   lr, [sp, #32]\n" \
    "ldr   r8, [r1, r2, lsl #2]\n" \
    "ldr   r10, [r1, r3, lsl #2]\n" \
    "ldrsb r9, [lr, r2]\n" \
    "ldrsb r11, [lr, r3]\n" \
    "mvn   r9, r9\n"                        /* -shift - 1 = right - 1 */ \
    "mvn   r11, r11\n" \
    "ldr   r12, [sp, #44]\n" \
    PAIR_REQUANT("r4", "r8", "r9") \
    PAIR_REQUANT("r5", "r8", "r9") \
    PAIR_REQUANT("r6", "r10", "r11") \
    PAIR_REQUANT("r7", "r10", "r11")
#define LIVE_CLAMP1(A) \
    "cmp   " A ", r0\n" \
    "it    lt\n" \
    "movlt " A ", r0\n" \
    "cmp   " A ", r1\n" \
    "it    gt\n" \
    "movgt " A ", r1\n"
#define LIVE_CLAMP \
    "ldrd  r0, r1, [sp, #48]\n" \
    LIVE_CLAMP1("r4") \
    LIVE_CLAMP1("r5") \
    LIVE_CLAMP1("r6") \
    LIVE_CLAMP1("r7")
#define LIVE_NEXT \
    "ldrd  r0, r1, [sp, #36]\n" \
    "strb  r4, [r0, r2]\n" \
    "strb  r5, [r1, r2]\n" \
    "strb  r6, [r0, r3]\n" \
    "strb  r7, [r1, r3]\n" \
    "ldrd  r0, r1, [sp, #8]\n" \
    "cmp   r0, r1\n" \
    "bne   10b\n" \
    "add   sp, sp, #64\n" \
    "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n"

__attribute__((naked, noinline))
static void live_rows(live_job *job)
{
    (void)job;
    __asm__ volatile(LIVE_ENTRY LIVE_NEXT);
}

__attribute__((naked, noinline))
static void live_rows_clamp(live_job *job)
{
    (void)job;
    __asm__ volatile(LIVE_ENTRY LIVE_CLAMP LIVE_NEXT);
}

/* The live rows (not in bits) in list, the last one twice when their number is odd, and their
 * dead_v zeroed (dead_v is then every output's start); -1 when a live row is outside
 * requant_fast. */
static __attribute__((noinline)) int32_t live_list(const tml_conv_params *p, const int32_t *bias,
                                                   const int8_t *shift, int32_t k, const uint32_t *bits,
                                                   int8_t *dead_v, uint8_t *list)
{
    int32_t n = 0;
    for (int32_t o = 0; o < p->out_c; o++) {
        if (!((bits[o >> 5] >> (o & 31)) & 1u)) {
            if (!pair_fast(p, bias, shift, k, o, 1)) {
                return -1;
            }
            dead_v[o] = 0;
            list[n++] = (uint8_t)o;
        }
    }
    if (n & 1) {
        list[n] = list[n - 1];
        n++;
    }
    return n;
}

/* one pixel pair: the dead rows' constants, then the live rows over them */
static __attribute__((noinline)) void live_pair(live_job *job, const int8_t *dead_v, int32_t n_out, int32_t n_live,
                                                int full, int8_t *oa, int8_t *ob)
{
    for (int32_t i = 0; i < n_out; i += 4) {
        uint32_t v;
        memcpy(&v, dead_v + i, 4);
        memcpy(oa + i, &v, 4);  /* one STR (unaligned allowed) */
        memcpy(ob + i, &v, 4);
    }
    if (n_live > 0) {
        job->oa = oa;
        job->ob = ob;
        if (full) {
            live_rows(job);
        } else {
            live_rows_clamp(job);
        }
    }
}

/* the last k % 4 weights of a row (t of them at w) as halfword pairs (w0, w2), (w1, 0) */
static inline void tail_pairs(const int8_t *w, int32_t t, uint32_t *e, uint32_t *o)
{
    const int32_t w1 = t > 1 ? w[1] : 0, w2 = t > 2 ? w[2] : 0;
    *e = (uint32_t)(uint16_t)w[0] | (uint32_t)w2 << 16;
    *o = (uint32_t)(uint16_t)w1;
}

/* A row-major row (after the last full block) for both pixels, in C */
static inline void pair_row(const uint32_t *xs, const int8_t *w, int32_t nq, int32_t t, int32_t *a, int32_t *b)
{
    uint32_t sa = (uint32_t)*a, sb = (uint32_t)*b;
    for (int32_t j = 0; j < nq; j++, xs += 4, w += 4) {
        const uint32_t v = load32(w), e = __sxtb16(v), o = sxtb16_ror8(v);
        sa = __smlad(e, xs[0], __smlad(o, xs[1], sa));
        sb = __smlad(e, xs[2], __smlad(o, xs[3], sb));
    }
    if (t) {
        uint32_t e, o;
        tail_pairs(w, t, &e, &o);
        sa = __smlad(e, xs[0], __smlad(o, xs[1], sa));
        sb = __smlad(e, xs[2], __smlad(o, xs[3], sb));
    }
    *a = (int32_t)sa;
    *b = (int32_t)sb;
}

static inline int8_t pair_store(int32_t acc, int32_t m, int32_t round, int32_t right, int32_t zp, int32_t lo,
                                int32_t hi, int full)
{
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"((int32_t)((uint32_t)acc << 1)), "r"(m));
    int32_t v = ((int32_t)((uint32_t)high + (uint32_t)round + (uint32_t)(high >> 31)) >> right) + zp;
    if (full) {
        return (int8_t)__ssat(v, 8);
    }
    v = v < lo ? lo : v;
    return (int8_t)(v > hi ? hi : v);
}

/* Requantize rows o .. o + count - 1 of both pixels (acc as pair_job's), A's into oa, B's into
 * ob when `two`: requant_fast when `fast` (pair_fast), else TFLite's requantization in either
 * rounding (kernel.h); a dead row (bit r of `dead`) stores its constant dead_v[r] */
static TML_HOT void pair_finish(const tml_conv_params *p, const int32_t *mult, const int8_t *shift, int32_t o,
                                int32_t count, const int32_t *acc, int8_t *oa, int8_t *ob, int two, int fast,
                                uint32_t dead, const int8_t *dead_v)
{
    const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
    const int full = lo == -128 && hi == 127, per_channel = p->n_channels != 1;
    for (int32_t r = 0; r < count; r++) {
        const int32_t i = per_channel ? o + r : 0, m = mult[i];
        if ((dead >> r) & 1u) {
            oa[o + r] = dead_v[r];
            ob[o + r] = dead_v[r];
        } else if (fast) {
            const int32_t right = -shift[i], round = (int32_t)(1u << (right - 1));
            oa[o + r] = pair_store(acc[2 * r], m, round, right, zp, lo, hi, full);
            if (two) {
                ob[o + r] = pair_store(acc[2 * r + 1], m, round, right, zp, lo, hi, full);
            }
        } else {
            requant q;
            requant_setup(&q, m, shift[i], p->rounding);
            for (int32_t k = 0; k < 1 + (two != 0); k++) {
                const int32_t y = p->rounding == TML_ROUNDING_LITERT ? requant_litert(&q, acc[2 * r + k])
                                                                       : requant_tflm(&q, acc[2 * r + k]);
                (k ? ob : oa)[o + r] = clamp_s8(y, lo - zp, hi - zp, zp);
            }
        }
    }
}

/* Rows whose weights are all zero (a converter's dead channels: VWW's later pointwise layers
 * have up to 234 of 256) output a constant, requant(bias) + zp clamped: found once per call
 * (a live row's scan stops at its first nonzero word), their MACs skipped by row pair. Rows
 * from PAIR_DEAD_ROWS on are treated as live. */
#define PAIR_DEAD_ROWS 256

static TML_NO_LIBCALLS int32_t find_dead(const tml_conv_params *p, const int8_t *w, const int32_t *bias,
                                         const int32_t *mult, const int8_t *shift, int32_t k, uint32_t *bits,
                                         int8_t *dead_v)
{
    const int32_t n = p->out_c < PAIR_DEAD_ROWS ? p->out_c : PAIR_DEAD_ROWS, nq = k >> 2, t = k & 3;
    const int32_t zp = p->output_zp;
    int32_t count = 0;
    for (int32_t i = 0; i < PAIR_DEAD_ROWS / 32; i++) {
        bits[i] = 0;
    }
    for (int32_t o = 0; o < n; o++) {
        /* row o's weights: in a block of 8 (o < full) 4 bytes per group 32 apart, the tail t per
         * row after the block's groups; past the last block row-major */
        const int32_t blk = o & ~(TML_BLOCK_ROWS - 1), full = p->out_c & ~(TML_BLOCK_ROWS - 1);
        uint32_t any = 0;
        if (o < full) {
            const int8_t *g = w + blk * k + 4 * (o - blk);
            int32_t j = 0;
            if (nq > 0) {  /* a live row's first word is rarely zero */
                any = load32(g);
                j = 1;
            }
            for (; j + 4 <= nq && !any; j += 4) {  /* a dead row's words four at a time */
                any = load32(g + 32 * j) | load32(g + 32 * j + 32) | load32(g + 32 * j + 64) | load32(g + 32 * j + 96);
            }
            for (; j < nq && !any; j++) {
                any = load32(g + 32 * j);
            }
            const int8_t *wt = w + blk * k + 4 * TML_BLOCK_ROWS * nq + t * (o - blk);
            for (int32_t j = 0; j < t; j++) {
                any |= (uint32_t)(uint8_t)wt[j];
            }
        } else {
            const int8_t *r = w + o * k;
            for (int32_t j = 0; j < k && !any; j++) {
                any = (uint32_t)(uint8_t)r[j];
            }
        }
        if (!any) {
            const int32_t i = p->n_channels == 1 ? 0 : o;
            requant q;
            requant_setup(&q, mult[i], shift[i], p->rounding);
            const int32_t y = p->rounding == TML_ROUNDING_LITERT ? requant_litert(&q, bias[o]) : requant_tflm(&q, bias[o]);
            dead_v[o] = clamp_s8(y, p->act_min - zp, p->act_max - zp, zp);
            bits[o >> 5] |= 1u << (o & 31);
            count++;
        }
    }
    return count;
}

/* A block pair_block cannot take alone: dead rows (their constants through init and m = 2^30,
 * shift -1; row pairs of two skipped) or rows outside requant_fast (raw accumulators, then C).
 * Out of conv_pairs' loop, whose registers it would take. */
static __attribute__((noinline)) void pair_slow(const tml_conv_params *p, pair_job *job, const int32_t *bias,
                                                const int32_t *mult, const int8_t *shift, int32_t k, int32_t o,
                                                int all_fast, uint32_t dead, const int8_t *dead_v, int8_t *oa,
                                                int8_t *ob, int two)
{
    int32_t blk_mult[TML_BLOCK_ROWS];
    int8_t blk_shift[TML_BLOCK_ROWS];
    int32_t *init = job->init;
    const int32_t qstep = job->qstep;
    job->skip = 0;
    job->raw = !all_fast && !pair_fast(p, bias, shift, k, o, TML_BLOCK_ROWS);
    if (dead) {
        /* a dead row's accumulator is 4 (v - zp), requantized by m = 2^30, shift -1 to v - zp
         * exactly (PAIR_REQUANT: SMMULR gives 2 (v - zp), the halving the rest) */
        int fast = p->rounding == TML_ROUNDING_TFLM;
        for (int32_t r = 0; r < TML_BLOCK_ROWS; r++) {
            if ((dead >> r) & 1u) {
                init[2 * r] = init[2 * r + 1] = 4 * (dead_v[o + r] - p->output_zp);
                blk_mult[r] = 1 << 30;
                blk_shift[r] = -1;
            } else {
                const int32_t i = qstep ? o + r : 0;
                blk_mult[r] = mult[i];
                blk_shift[r] = shift[i];
                fast = fast && pair_fast(p, bias, shift, k, o + r, 1);
            }
        }
        for (int32_t rp = 0; rp < TML_BLOCK_ROWS / 2; rp++) {
            if (((dead >> (2 * rp)) & 3u) == 3u) {
                job->skip |= 1u << rp;
            }
        }
        job->mult = blk_mult;
        job->shift = blk_shift;
        job->qstep = 1;
        job->raw = !fast;
    }
    pair_block_any(job);
    job->qstep = qstep;
    if (job->raw) {
        pair_finish(p, mult, shift, o, TML_BLOCK_ROWS, init, oa, ob, two, 0, dead, dead_v + o);
    }
}

/* K % 4 != 0 (IC's and VWW's first convolutions: 3x3 on 3 channels, K = 27) with few full
 * blocks: their weights restaged on the stack with K rounded up to 4, the tail of each row a
 * group of its own with a zero weight last (the patch's staged tail is zero there too), so
 * pair_rows takes every full block: no accumulator start in C per block and pixel pair. */
#define PAIR_RESTAGE_BYTES 512

static TML_NO_LIBCALLS void restage_weights(const int8_t *w, int32_t k, int32_t full, int8_t *dst)
{
    const int32_t nq = k >> 2, t = k & 3, kr = 4 * nq + 4;
    for (int32_t o = 0; o < full; o += TML_BLOCK_ROWS, w += TML_BLOCK_ROWS * k, dst += TML_BLOCK_ROWS * kr) {
        for (int32_t i = 0; i < 32 * nq; i += 4) {
            const uint32_t v = load32(w + i);
            memcpy(dst + i, &v, 4);
        }
        for (int32_t r = 0; r < TML_BLOCK_ROWS; r++) {
            const int8_t *wt = w + 32 * nq + t * r;
            int8_t *d = dst + 32 * nq + 4 * r;
            for (int32_t j = 0; j < 4; j++) {
                d[j] = j < t ? wt[j] : 0;
            }
        }
    }
}

/* K = 8 with at most 16 rows (VWW's 48x48x8 -> 16 pointwise): pair_rows pays its row pair's
 * set-up (the jump into the loop, the frame's pointers, the requantization constants) around
 * only two groups of MACs. Here each row is staged once per call as one record (its weights
 * split by SXTB16, its bias and requant_fast's constants), and each pixel pair walks the records
 * with both pixels' eight staged words in registers: per row the record's loads (shared by the
 * pixels), eight SMLAD, two requantizations and two stores. */
typedef struct {
    uint32_t w01[2];   /* group 0, even and odd halfwords, as the staged x */
    int32_t bias;
    uint32_t w23[2];   /* group 1 */
    int32_t mult;
    int32_t rm1;       /* right - 1; bit 8 set on the last row (ASR by register reads bits 0-7) */
    int32_t zp2;       /* 2 output_zp + 1 */
} k8_row;

#define K8_ROWS (PAIR_RESTAGE_BYTES / (int32_t)sizeof(k8_row))
#define K8_LAST 256

static TML_NO_LIBCALLS void k8_stage(const int8_t *w, const int32_t *bias, const int32_t *mult, const int8_t *shift,
                                     int32_t qstep, int32_t full, int32_t zp, k8_row *rows)
{
    for (int32_t o = 0; o < full; o++) {
        const int8_t *g = w + (o & ~(TML_BLOCK_ROWS - 1)) * 8 + 4 * (o & (TML_BLOCK_ROWS - 1));
        const uint32_t w0 = load32(g), w1 = load32(g + 32);
        const int32_t i = qstep * o;
        rows[o].w01[0] = __sxtb16(w0);
        rows[o].w01[1] = sxtb16_ror8(w0);
        rows[o].w23[0] = __sxtb16(w1);
        rows[o].w23[1] = sxtb16_ror8(w1);
        rows[o].bias = bias[o];
        rows[o].mult = mult[i];
        rows[o].rm1 = -shift[i] - 1 + (o == full - 1 ? K8_LAST : 0);
        rows[o].zp2 = 2 * zp + 1;
    }
}

static inline __attribute__((always_inline)) void k8_pixel(const uint32_t *xs, const k8_row *r, const k8_row *end,
                                                           int32_t zp, int32_t lo, int32_t hi, int full,
                                                           int8_t *out)
{
    const uint32_t x0 = xs[0], x1 = xs[1], x2 = xs[4], x3 = xs[5];
    for (; r < end; r++) {
        const int32_t a = (int32_t)__smlad(r->w23[1], x3,
            __smlad(r->w23[0], x2, __smlad(r->w01[1], x1, __smlad(r->w01[0], x0, (uint32_t)r->bias))));
        const int32_t right = (r->rm1 & (K8_LAST - 1)) + 1;
        *out++ = pair_store(a, r->mult, (int32_t)(1u << (right - 1)), right, zp, lo, hi, full);
    }
}

/* Both pixels of a pair (outputs B at A + BOFF: BOFF = out_c) over every record, the whole int8
 * range (SSAT clamps), in assembly: r4-r7 A's staged words (xs[0], xs[1], xs[4], xs[5]), r8-r11
 * B's, r0 the record, lr A's outputs; per row three LDM of the record, the accumulators from its
 * bias, PAIR_REQUANT's steps for both, about 40 cycles for the two outputs. */
#define K8_ROWS_LOOP(BOFF) \
    "1:\n" \
    "ldm   r0!, {r1, r2, r3}\n"             /* w01, bias */ \
    "mov   r12, r3\n" \
    "smlad r3, r1, r4, r3\n" \
    "smlad r12, r1, r8, r12\n" \
    "smlad r3, r2, r5, r3\n" \
    "smlad r12, r2, r9, r12\n" \
    "ldm   r0!, {r1, r2}\n"                 /* w23 */ \
    "smlad r3, r1, r6, r3\n" \
    "smlad r12, r1, r10, r12\n" \
    "smlad r3, r2, r7, r3\n" \
    "smlad r12, r2, r11, r12\n" \
    "ldm   r0!, {r1, r2}\n"                 /* mult, right - 1 (and K8_LAST) */ \
    "lsl   r3, r3, #1\n" \
    "lsl   r12, r12, #1\n" \
    "smmulr r3, r3, r1\n" \
    "smmulr r12, r12, r1\n" \
    "ldr   r1, [r0], #4\n"                  /* 2 zp + 1 */ \
    "add   r3, r3, r3, asr #31\n" \
    "add   r12, r12, r12, asr #31\n" \
    "asr   r3, r3, r2\n" \
    "asr   r12, r12, r2\n" \
    "add   r3, r3, r1\n" \
    "add   r12, r12, r1\n" \
    "ssat  r3, #8, r3, asr #1\n" \
    "ssat  r12, #8, r12, asr #1\n" \
    "strb  r12, [lr, #" #BOFF "]\n" \
    "strb  r3, [lr], #1\n" \
    "tst   r2, #256\n"                      /* K8_LAST */ \
    "beq   1b\n"

#define K8_PAIR_BODY(BOFF) \
    ".syntax unified\n" \
    "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n" \
    "ldr   r4, [r0]\n" \
    "ldr   r5, [r0, #4]\n" \
    "ldr   r6, [r0, #16]\n" \
    "ldr   r7, [r0, #20]\n" \
    "ldr   r8, [r0, #8]\n" \
    "ldr   r9, [r0, #12]\n" \
    "ldr   r10, [r0, #24]\n" \
    "ldr   r11, [r0, #28]\n" \
    "mov   r0, r1\n" \
    "mov   lr, r2\n" \
    K8_ROWS_LOOP(BOFF) \
    "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n"

__attribute__((naked, noinline))
static void k8_pair16(const uint32_t *xs, const k8_row *r, int8_t *oa)
{
    (void)xs;
    (void)r;
    (void)oa;
    __asm__ volatile(K8_PAIR_BODY(16));
}

__attribute__((naked, noinline))
static void k8_pair8(const uint32_t *xs, const k8_row *r, int8_t *oa)
{
    (void)xs;
    (void)r;
    (void)oa;
    __asm__ volatile(K8_PAIR_BODY(8));
}

/* Every pixel pair of a 1x1, stride-1 layer of 8 inputs and 16 rows, the whole int8 range
 * (VWW's 48x48x8 -> 16): the pixels' 16 input bytes loaded and split here (no staging, no C per
 * pair), then K8_ROWS_LOOP. Frame: [sp] x, [sp, #4] the records, [sp, #8] the outputs, [sp, #12]
 * the pairs left (>= 1). */
__attribute__((naked, noinline))
static void k8_run16(const int8_t *x, const k8_row *r, int8_t *out, int32_t pairs)
{
    (void)x;
    (void)r;
    (void)out;
    (void)pairs;
    __asm__ volatile(
        ".syntax unified\n"
        "push  {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"
        "push  {r0, r1, r2, r3}\n"
        "10:\n"
        "ldr   r0, [sp]\n"
        "ldr   r4, [r0]\n"                      /* unaligned loads: no LDM */
        "ldr   r6, [r0, #4]\n"
        "ldr   r8, [r0, #8]\n"
        "ldr   r10, [r0, #12]\n"
        "add   r0, r0, #16\n"
        "str   r0, [sp]\n"
        "sxtb16 r5, r4, ror #8\n"
        "sxtb16 r4, r4\n"
        "sxtb16 r7, r6, ror #8\n"
        "sxtb16 r6, r6\n"
        "sxtb16 r9, r8, ror #8\n"
        "sxtb16 r8, r8\n"
        "sxtb16 r11, r10, ror #8\n"
        "sxtb16 r10, r10\n"
        "ldr   r0, [sp, #4]\n"
        "ldr   lr, [sp, #8]\n"
        K8_ROWS_LOOP(16)
        "add   lr, lr, #16\n"                   /* past B's outputs */
        "ldr   r0, [sp, #12]\n"
        "str   lr, [sp, #8]\n"
        "subs  r0, r0, #1\n"
        "str   r0, [sp, #12]\n"
        "bne   10b\n"
        "add   sp, sp, #16\n"
        "pop   {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n");
}

static __attribute__((noinline)) void k8_pair(const uint32_t *xs, const k8_row *rows, int32_t full, int32_t n_out,
                                              int32_t zp, int32_t lo, int32_t hi, int clamp_full, int8_t *oa,
                                              int8_t *ob)
{
    if (clamp_full && ob == oa + n_out && n_out == 16) {
        k8_pair16(xs, rows, oa);
    } else if (clamp_full && ob == oa + n_out && n_out == 8) {
        k8_pair8(xs, rows, oa);
    } else {
        k8_pixel(xs, rows, rows + full, zp, lo, hi, clamp_full, oa);
        k8_pixel(xs + 2, rows, rows + full, zp, lo, hi, clamp_full, ob);
    }
}

static TML_HOT void conv_pairs(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                               const int32_t *mult, const int8_t *shift, int8_t *out, int8_t *scratch, int all_fast)
{
    const int32_t k = p->filter_h * p->filter_w * p->in_c, nq = k >> 2, t = k & 3, ng = (k + 3) >> 2;
    const int32_t n_out = p->out_c, full = n_out & ~(TML_BLOCK_ROWS - 1), pixels = p->out_h * p->out_w;
    const int32_t qstep = p->n_channels == 1 ? 0 : 1;
    uint32_t *xs = (uint32_t *)(void *)(scratch + ((0u - (uintptr_t)scratch) & 3u));
    const uint32_t *xt = xs + 4 * nq;  /* the tail group */
    int32_t init[2 * TML_BLOCK_ROWS];
    pair_job job;
    job.xs = xs;
    job.nq = nq;
    job.init = init;
    job.qstep = qstep;
    job.zp2 = 2 * p->output_zp + 1;
    job.lo = p->act_min;
    job.hi = p->act_max;
    job.full = p->act_min == -128 && p->act_max == 127;
    job.skip = 0;
    uint32_t dead_bits[PAIR_DEAD_ROWS / 32];
    int8_t dead_v[PAIR_DEAD_ROWS];
    const int any_dead = find_dead(p, w, bias, mult, shift, k, dead_bits, dead_v) != 0;
    /* pair_rows takes every full block when nothing needs pair_block's slower cases */
    uint32_t wbuf[PAIR_RESTAGE_BYTES / 4];
    const int restage = t != 0 && full > 0 && full * 4 * ng <= PAIR_RESTAGE_BYTES;
    const int lean = all_fast && !any_dead && (t == 0 || restage) && full > 0;
    const int8_t *wl = w;  /* pair_rows' weights, k_lean per row */
    int32_t k_lean = k;
    if (lean && restage) {
        restage_weights(w, k, full, (int8_t *)wbuf);
        wl = (const int8_t *)wbuf;
        k_lean = 4 * ng;
    }
    const int k8 = lean && k == 8 && full <= K8_ROWS;
    /* dead rows and nothing else outside pair_rows' cases: the live rows in pairs (live_rows) */
    uint8_t live[PAIR_DEAD_ROWS];
    int32_t n_live = -1;
    live_job lj;
    if (any_dead && t == 0 && full == n_out && n_out <= PAIR_DEAD_ROWS && qstep &&
        p->rounding == TML_ROUNDING_TFLM) {
        n_live = live_list(p, bias, shift, k, dead_bits, dead_v, live);
        lj.xs = xs;
        lj.xe = xs + 4 * nq;
        lj.list = live;
        lj.end = live + (n_live > 0 ? n_live : 0);
        lj.w = w;
        lj.k8 = 8 * k;
        lj.bias = bias;
        lj.mult = mult;
        lj.shift = shift;
        lj.zp2 = job.zp2;
        lj.lo = job.lo;
        lj.hi = job.hi;
    }
    if (k8) {
        k8_stage(w, bias, mult, shift, qstep, full, p->output_zp, (k8_row *)(void *)wbuf);
    }
    /* the constants as a table after the restaged weights when it fits (16 bytes a row pair) */
    const int32_t tbl_at = restage ? full * ng : 0;  /* words */
    const int table = lean && !k8 && (tbl_at + 2 * full) * 4 <= PAIR_RESTAGE_BYTES;
    const int32_t *rmult = mult;
    if (table) {
        rows_table(mult, shift, qstep, full, (int32_t *)(void *)(wbuf + tbl_at));
        rmult = (const int32_t *)(const void *)(wbuf + tbl_at);
    }
    void (*const rows_fn)(rows_job *) = table ? (job.full ? pair_rows_t : pair_rows_t_clamp) :
                                                (job.full ? pair_rows : pair_rows_clamp);
    rows_job rj;
    rj.xs = xs;
    rj.xe = xs + k_lean;
    rj.qstep = qstep;
    rj.zp2 = job.zp2;
    rj.lo = job.lo;
    rj.hi = job.hi;
    rj.jump = TML_BLOCK_ROWS * k_lean - 24;
    int32_t pa0 = 0;
    if (k8 && job.full && n_out == 16 && p->in_c == 8 && pixels >= 2 && p->filter_h == 1 && p->filter_w == 1 &&
        p->stride_h == 1 && p->stride_w == 1 && p->out_w == p->in_w) {
        k8_run16(x, (const k8_row *)(const void *)wbuf, out, pixels >> 1);
        pa0 = pixels & ~1;
    }
    for (int32_t pa = pa0; pa < pixels; pa += 2) {
        const int two = pa + 1 < pixels;
        int8_t *oa = out + pa * n_out, *ob = two ? oa + n_out : oa;
        pair_stage(p, x, pa, two ? pa + 1 : pa, k, ng, xs);
        if (n_live >= 0) {
            live_pair(&lj, dead_v, n_out, n_live, job.full, oa, ob);
            continue;
        }
        if (k8) {
            k8_pair(xs, (const k8_row *)(const void *)wbuf, full, n_out, p->output_zp, p->act_min, p->act_max, job.full,
                    oa, ob);
        } else if (lean) {
            rj.w = wl;
            rj.bias = bias;
            rj.mult = rmult;
            rj.shift = shift;
            rj.oa = oa;
            rj.ob = ob;
            rj.left = full / 2;
            rows_fn(&rj);
        }
        for (int32_t o = lean ? full : 0; o < full; o += TML_BLOCK_ROWS) {
            const int8_t *wb = w + o * k;
            if (t) {
                const int8_t *wt = wb + 4 * TML_BLOCK_ROWS * nq;
                for (int32_t r = 0; r < TML_BLOCK_ROWS; r++, wt += t) {
                    uint32_t e, od;
                    tail_pairs(wt, t, &e, &od);
                    init[2 * r] = (int32_t)__smlad(e, xt[0], __smlad(od, xt[1], (uint32_t)bias[o + r]));
                    init[2 * r + 1] = (int32_t)__smlad(e, xt[2], __smlad(od, xt[3], (uint32_t)bias[o + r]));
                }
            } else {
                for (int32_t r = 0; r < TML_BLOCK_ROWS; r++) {
                    init[2 * r] = init[2 * r + 1] = bias[o + r];
                }
            }
            const uint32_t dead = any_dead && o < PAIR_DEAD_ROWS ? (dead_bits[o >> 5] >> (o & 31)) & 0xFFu : 0u;
            job.w = wb;
            job.oa = oa + o;
            job.ob = ob + o;
            job.mult = mult + o * qstep;
            job.shift = shift + o * qstep;
            if (all_fast && !dead) {
                pair_block(&job);
                continue;
            }
            pair_slow(p, &job, bias, mult, shift, k, o, all_fast, dead, dead_v, oa, ob, two);
        }
        for (int32_t o = full; o < n_out; o++) {
            int32_t acc[2] = {bias[o], bias[o]};
            pair_row(xs, w + o * k, nq, t, &acc[0], &acc[1]);
            pair_finish(p, mult, shift, o, 1, acc, oa, ob, two, all_fast || pair_fast(p, bias, shift, k, o, 1), 0,
                        dead_v);
        }
    }
}
#endif

tml_status tml_conv_s8(const tml_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                       const int32_t *mult, const int8_t *shift, int8_t *out, int8_t *scratch)
{
    if (p == 0 || x == 0 || w == 0 || bias == 0 || mult == 0 || shift == 0 || out == 0 || scratch == 0) {
        return TML_ERR_NULL;
    }
    /* p, mult and shift passed tml_conv_check */
#if TML_PATH_DSP
    const int32_t k = p->filter_h * p->filter_w * p->in_c;
    conv_pairs(p, x, w, bias, mult, shift, out, scratch, pair_fast(p, bias, shift, k, 0, p->out_c));
#else
    /* the patch is a row of the fully connected kernel */
    tml_fc_params fc;
    fc.n_in = p->filter_h * p->filter_w * p->in_c;
    fc.n_out = p->out_c;
    fc.n_channels = p->n_channels;
    fc.act_min = p->act_min;
    fc.act_max = p->act_max;
    fc.output_zp = p->output_zp;
    fc.rounding = p->rounding;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int8_t *patch = scratch;
            if (reads_in_place(p)) {
                patch = x + ((oy * p->stride_h) * p->in_w + ox * p->stride_w) * p->in_c;
            } else {
                gather_patch(p, x, oy, ox, scratch);
            }
            tml_fc_s8(&fc, patch, w, bias, mult, shift, out);
            out += p->out_c;
        }
    }
#endif
    return TML_OK;
}
