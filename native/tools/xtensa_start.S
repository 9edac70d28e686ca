/* Start-up for native/tools/xtensa_driver.c on QEMU's Xtensa sim machine, -cpu lx106 (call0 ABI).
 * QEMU 7.2 starts at the lx106 reset vector, 0x50000000 (sysrom), whatever the ELF entry says:
 * .reset there jumps to _start through 0x40000080. VECBASE is 0x40000000 at reset, where the
 * linker script puts .vectors. Every exception vector ends the run through the simulator's exit
 * call with status 100 + the vector's number, so a fault (an unaligned load, a bad address)
 * ends the run at once instead of running whatever follows. */
    .macro fault_exit code
    movi    a2, 1              /* SYS_exit */
    movi    a3, \code
    simcall
    .endm

    .section .vectors, "ax"
    .org 0x10                  /* debug / level 2 */
    fault_exit 102
    .org 0x20                  /* NMI / level 3 */
    fault_exit 103
    .org 0x30                  /* kernel exception */
    fault_exit 104
    .org 0x50                  /* user exception */
    fault_exit 105
    .org 0x70                  /* double exception */
    fault_exit 106
    .org 0x80
    j       _start

    .section .reset, "ax"
    .global _reset
_reset:                        /* 0x50000000: far from the code, so the address is built */
    movi    a0, 0x400
    slli    a0, a0, 20         /* 0x40000000 */
    addi    a0, a0, 0x80
    jx      a0

    .text
    .literal_position
    .literal .Lstack, __stack_top
    .literal .Lmain, main
    .global _start
    .align 4
_start:
    l32r    a1, .Lstack
    l32r    a0, .Lmain
    callx0  a0
    mov     a3, a2             /* main's return value */
    movi    a2, 1              /* SYS_exit */
    simcall
1:  j       1b

    /* for calibrating the instruction count: a call of known length */
    .global xt_ret_fc          /* the fc kernels' signature, one instruction */
    .align 4
xt_ret_fc:
    ret

    .global xt_loop            /* 2 n + 1 instructions for n >= 1 */
    .align 4
xt_loop:
1:  addi    a2, a2, -1
    bnez    a2, 1b
    ret
