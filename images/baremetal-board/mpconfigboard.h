// dmfw's bare-metal board (ports/qemu, RISC-V virt): what dmfw needs on top of
// VIRT_RV32. mpconfigboard.mk makes this MP_CONFIGFILE, so py/mpconfig.h reads it
// instead of the port's mpconfigport.h, which it includes first and then amends
// (the port's file sets its options unconditionally).
#ifndef DMFW_MPCONFIGBOARD_H
#define DMFW_MPCONFIGBOARD_H

#include "mpconfigport.h"

// time.ticks_ms/us (dmfw.compat, the shell's `time`, bench/): the CLINT's mtime,
// 10 MHz on QEMU's virt machine.
#undef MICROPY_PY_TIME
#define MICROPY_PY_TIME             (1)
#define DMFW_MTIME() (*(volatile uint64_t *)0x0200bff8)
#define mp_hal_ticks_cpu() ((mp_uint_t)DMFW_MTIME())
#define mp_hal_ticks_us() ((mp_uint_t)(DMFW_MTIME() / 10))
#define mp_hal_ticks_ms() ((mp_uint_t)(DMFW_MTIME() / 10000))
#define mp_hal_delay_us(us) do { uint64_t t_ = DMFW_MTIME() + (uint64_t)(us) * 10; \
        while (DMFW_MTIME() < t_) { } } while (0)
#define mp_hal_delay_ms(ms) mp_hal_delay_us((uint64_t)(ms) * 1000)

// Block devices, tables and verity: uctypes (the virtqueue's addresses), machine.mem32
// (virtio-mmio registers), deflate, hashlib (sha256; sha1 with mbed TLS), cryptolib.
#undef MICROPY_PY_UCTYPES
#define MICROPY_PY_UCTYPES          (1)
#undef MICROPY_PY_MACHINE_MEMX
#define MICROPY_PY_MACHINE_MEMX     (1)
#undef MICROPY_PY_DEFLATE
#define MICROPY_PY_DEFLATE          (1)
#undef MICROPY_PY_HASHLIB
#define MICROPY_PY_HASHLIB          (1)
#undef MICROPY_PY_HASHLIB_SHA256
#define MICROPY_PY_HASHLIB_SHA256   (1)
#if DMFW_MBEDTLS
#undef MICROPY_PY_HASHLIB_SHA1
#define MICROPY_PY_HASHLIB_SHA1     (1)
#undef MICROPY_PY_HASHLIB_MD5
#define MICROPY_PY_HASHLIB_MD5      (1)
#undef MICROPY_PY_CRYPTOLIB
#define MICROPY_PY_CRYPTOLIB        (1)
#undef MICROPY_PY_CRYPTOLIB_CTR
#define MICROPY_PY_CRYPTOLIB_CTR    (1)
#endif

// At boot, once the VM is up: a deeper C stack limit than main.c's 10 KiB (dmfw
// stacks shell -> dmsetup -> table -> target -> verity), then the frozen boot module,
// which probes the virtio disks and runs the dmfw shell on the UART. When the shell
// exits, main.c's MicroPython REPL follows.
#define MICROPY_PORT_INIT_FUNC do { \
        extern void mp_stack_set_limit(mp_uint_t); \
        extern int pyexec_frozen_module(const char *, bool); \
        mp_stack_set_limit(48 * 1024); \
        pyexec_frozen_module("dmfw_boot.py", false); \
} while (0)

#endif
