# dmfw's bare-metal firmware: MicroPython's ports/qemu on QEMU's RISC-V `virt` machine,
# as boards/VIRT_RV32 plus what dmfw needs (images/baremetal.py builds it with
# BOARD_DIR=this folder). Made for Debian's GCC 12 multilib, which has rv32imac/ilp32
# but no rv32imac_zicsr: -misa-spec=2.2 keeps the CSR instructions in the base ISA.
QEMU_ARCH = riscv32
QEMU_MACHINE = virt
RV32_ARCH = rv32imac
AFLAGS += -misa-spec=2.2

CFLAGS += -DQEMU_SOC_VIRT
CFLAGS += -DMICROPY_HW_MCU_NAME='"$(RV32_ARCH)"'
# The port's mpconfigport.h includes no board header: ours is the config file, and
# includes the port's.
CFLAGS += -DMP_CONFIGFILE='"$(BOARD_DIR)/mpconfigboard.h"'
CFLAGS_EXTRA += -misa-spec=2.2

# Our own memory map: the port's (2 MiB of RAM) holds no heap above ~1.8 MiB.
LDSCRIPT = $(BOARD_DIR)/virt.ld

SRC_BOARD_O += shared/runtime/gchelper_native.o shared/runtime/gchelper_rv32i.o

MPY_CROSS_FLAGS += -march=rv32imc

# hashlib's SHA-1 and cryptolib's AES come from mbed TLS when images/baremetal.py
# provides its sources (MBEDTLS=1), as the unix port Debian builds gets them.
# The library's sources go in lib/mbedtls of the MicroPython tree (empty in Debian's
# +ds tarball); only the five files those modules need are built, not MicroPython's
# TLS list (that one needs MICROPY_PY_SSL).
ifeq ($(MBEDTLS),1)
CFLAGS += -DDMFW_MBEDTLS=1 -DMICROPY_SSL_MBEDTLS=1 -I$(TOP)/lib/mbedtls/include
CFLAGS += -DMBEDTLS_CONFIG_FILE='"$(BOARD_DIR)/mbedtls_config_board.h"'
SRC_THIRDPARTY_C += $(addprefix lib/mbedtls/library/,aes.c md5.c platform_util.c sha1.c sha256.c)
endif
