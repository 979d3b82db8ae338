/*
 * exitloop: a tiny PVH guest that measures the cost of VM exits (bench/exits.py).
 *
 * Booted as a PVH ELF (-kernel exitloop.elf): the loader reads the Xen ELF note
 * XEN_ELFNOTE_PHYS32_ENTRY (type 18) and enters `pvh_start` in 32-bit protected mode with
 * paging off and flat 4 GiB CS/DS (xen/include/public/arch-x86/hvm/start_info.h; QEMU's
 * docs/system/i386/microvm.rst). It stays in that mode: nothing here needs 64 bits.
 *
 * Phases, each framed by a line on COM1 (the host timestamps the lines as they arrive)
 * and a byte on port 0x80 (the boot-timeline debug port of nemu's virt machine):
 *   "EXITLOOP: start"     0x80 <- 0xe0
 *   "EXITLOOP: pio"       0x80 <- 0xe1, then PIO_COUNT `outb` to PIO_PORT (unassigned)
 *   "EXITLOOP: mmio"      0x80 <- 0xe2, then MMIO_COUNT 32-bit stores to MMIO_ADDR (unassigned)
 *   "EXITLOOP: done"      0x80 <- 0xe3, then power off, else halt forever
 * exits/s = count / (arrival of the line after a phase - arrival of the line before it).
 */

#ifndef PIO_COUNT
#define PIO_COUNT 100000
#endif
#ifndef MMIO_COUNT
#define MMIO_COUNT 100000
#endif

#define COM1_THR 0x3f8
#define COM1_LSR 0x3fd
#define LSR_THRE 0x20
#define DEBUG_PORT 0x80
/* No device on this port in nemu's virt (only 0x80 and 0x3f8..0x3ff) nor in QEMU's microvm
 * (PIC 0x20/0xa0/0x4d0, PIT 0x40, RTC 0x70, COM1, fw_cfg 0x510): each outb is a full exit
 * to the VMM's unassigned-port handler. */
#define PIO_PORT 0x0700
/* Below nemu's and QEMU microvm's device windows (0xfea00000..) and not RAM for -m <= 3 GiB:
 * each store is an EPT/NPT miss that the kernel hands to the VMM as KVM_EXIT_MMIO. */
#define MMIO_ADDR 0xd0000000
/* Hardware-reduced ACPI sleep control: SLP_TYP = 5 (_S5) << 2 | SLP_EN (bit 5).
 * nemu virt: 0xfea01000 (docs: x86-64 virt memory map); QEMU microvm: GED regs at
 * 0xfea00200 (hw/i386/microvm.h GED_MMIO_BASE_REGS). Each is unassigned in the other. */
#define SLEEP_CTL_NEMU 0xfea01000
#define SLEEP_CTL_QEMU_MICROVM 0xfea00200
#define SLEEP_S5 ((5 << 2) | 0x20)

        .code32
        .section .text, "ax"
        .globl pvh_start
pvh_start:
        cli
        movl    $stack_top, %esp
        cld

        movb    $0xe0, %al
        outb    %al, $DEBUG_PORT
        movl    $msg_start, %esi
        call    puts

        movb    $0xe1, %al
        outb    %al, $DEBUG_PORT
        movl    $msg_pio, %esi
        call    puts
        movl    $PIO_COUNT, %ecx
        movw    $PIO_PORT, %dx
        xorl    %eax, %eax
1:      outb    %al, %dx
        decl    %ecx
        jnz     1b

        movb    $0xe2, %al
        outb    %al, $DEBUG_PORT
        movl    $msg_mmio, %esi
        call    puts
        movl    $MMIO_COUNT, %ecx
        xorl    %eax, %eax
2:      movl    %eax, MMIO_ADDR
        decl    %ecx
        jnz     2b

        movb    $0xe3, %al
        outb    %al, $DEBUG_PORT
        movl    $msg_done, %esi
        call    puts

        movb    $SLEEP_S5, %al
        movb    %al, SLEEP_CTL_NEMU
        movb    %al, SLEEP_CTL_QEMU_MICROVM
3:      hlt
        jmp     3b

/* puts: write the NUL-terminated string at %esi to COM1, waiting for THRE before each
 * byte as a driver would (a 16550 at 0x3f8 in both machines). Clobbers eax, edx, esi. */
puts:
        lodsb
        testb   %al, %al
        jz      9f
        movb    %al, %ah
        movw    $COM1_LSR, %dx
8:      inb     %dx, %al
        testb   $LSR_THRE, %al
        jz      8b
        movb    %ah, %al
        movw    $COM1_THR, %dx
        outb    %al, %dx
        jmp     puts
9:      ret

        .section .rodata, "a"
msg_start:      .asciz "EXITLOOP: start\n"
msg_pio:        .asciz "EXITLOOP: pio\n"
msg_mmio:       .asciz "EXITLOOP: mmio\n"
msg_done:       .asciz "EXITLOOP: done\n"

        .section .bss, "aw", @nobits
        .balign 16
stack:  .skip 4096
stack_top:

/* XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen": the 32-bit physical entry point. The
 * descriptor is 8 bytes, as Linux's vmlinux has it (_ASM_PTR); little endian, so a
 * loader that reads only 4 bytes gets the same address. */
        .section .note.Xen, "a", @note
        .balign 4
        .long   4               /* namesz: "Xen\0" */
        .long   8               /* descsz */
        .long   18              /* type: XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .balign 4
        .quad   pvh_start
        .balign 4
