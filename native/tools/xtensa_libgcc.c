/* __muldi3 for the lx106 builds of native/tools/xtensarun.py: Debian's gcc-xtensa-lx106 ships a
 * libgcc without it (and without __umulsidi3), and the requantization's 64-bit products call it.
 * lx106 has MULL (32 x 32 -> low 32) but not MULUH/MULSH, so the high half is built from 16-bit
 * pieces, as libgcc's own Xtensa __umulsidi3 does without MUL32_HIGH. Only 32-bit multiplies
 * here, or GCC would turn them back into a call to this function. */
#include <stdint.h>

long long __muldi3(long long a, long long b);

static uint32_t umul_high(uint32_t a, uint32_t b, uint32_t *low)
{
    const uint32_t al = a & 0xFFFFu, ah = a >> 16, bl = b & 0xFFFFu, bh = b >> 16;
    const uint32_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    const uint32_t mid = (ll >> 16) + (lh & 0xFFFFu) + (hl & 0xFFFFu);   /* < 3 * 2^16 */
    *low = (ll & 0xFFFFu) | (mid << 16);
    return hh + (lh >> 16) + (hl >> 16) + (mid >> 16);
}

long long __muldi3(long long a, long long b)
{
    const uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    const uint32_t a0 = (uint32_t)ua, a1 = (uint32_t)(ua >> 32), b0 = (uint32_t)ub, b1 = (uint32_t)(ub >> 32);
    uint32_t low;
    uint32_t high = umul_high(a0, b0, &low) + a0 * b1 + a1 * b0;   /* mod 2^32 */
    return (long long)(((uint64_t)high << 32) | low);
}
