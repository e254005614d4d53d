# The bare-metal firmware's boot (run by the frozen dmfw_boot.py): the virtio
# disks as vda, vdb, ... and the dmfw shell on the UART. No tty does line
# editing here, so LineReader does what a serial user expects: echo,
# backspace, ^U (kill the line), ^C (abort it), ^D on an empty line (end).

import sys

from dmfw.mapper import Platform
from dmfw.shell import Shell, PROMPT

BANNER = "dmfw bare-metal firmware (%s)"

BS = "\x08"
DEL = "\x7f"
CTRL_C = "\x03"
CTRL_D = "\x04"
CTRL_U = "\x15"
ESC = "\x1b"


class LineReader:
    """readline() for the shell over a raw console: lines end in \\r (a serial
    terminal's Enter) or \\n; a \\n straight after a \\r is the same end."""

    def __init__(self, inp=None, out=None, echo=True):
        self.inp = inp or sys.stdin
        self.out = out or sys.stdout
        self.echo = echo
        self._after_cr = False

    def _put(self, s):
        if self.echo:
            self.out.write(s)

    def readline(self):
        read = self.inp.read
        line = []
        while True:
            c = read(1)
            if not c:
                return "".join(line)
            if c == "\n" and self._after_cr:
                self._after_cr = False
                continue
            self._after_cr = c == "\r"
            if c in "\r\n":
                self._put("\r\n")
                return "".join(line) + "\n"
            if c in (BS, DEL):
                if line:
                    line.pop()
                    self._put("\x08 \x08")
            elif c == CTRL_U:
                self._put("\x08 \x08" * len(line))
                line = []
            elif c == CTRL_C:
                self.out.write("\r\n")
                raise KeyboardInterrupt
            elif c == CTRL_D:
                if not line:
                    return ""
            elif c == ESC:
                # A terminal's cursor keys (ESC [ A ...): not edited here, dropped.
                if read(1) == "[":
                    while True:
                        c = read(1)
                        if not c or "@" <= c <= "~":
                            break
            elif c >= " ":
                line.append(c)
                self._put(c)


def attach_disks(sh):
    """The virtio-blk disks into the shell's registry; one line per disk."""
    from dmfw.platform.virtio_blk import attach_all
    for dev in attach_all(sh.devices, sh.error):
        sh.write("%s: %d sectors (%s)%s, virtio-mmio v%d at 0x%x\n"
                 % (dev.name, dev.nr_sectors, dev.devno(), ", read-only" if dev.readonly
                    else "", dev.version, dev.base))


# Where a boot payload goes: QEMU virt RAM above the firmware (ROM 4 MiB, RAM 32 MiB
# and the 64 KiB stack from 0x80000000, images/baremetal-board/virt.ld) and below the
# device tree QEMU puts in the top 2 MiB of the 128 MiB the harness gives the board.
LOAD_BASE = 0x82800000
LOAD_END = 0x87E00000


class BoardPlatform(Platform):
    """The kernel and initrd are loaded into RAM outside the MicroPython heap, as a
    bootloader loads to its kernel_addr_r: a heap of a few MiB need not hold them."""

    def load_buffers(self, sizes):
        import uctypes
        out = []
        addr = LOAD_BASE
        for n in sizes:
            addr = (addr + 4095) & ~4095
            if addr + n > LOAD_END:
                raise MemoryError("load region 0x%x-0x%x is full" % (LOAD_BASE, LOAD_END))
            out.append(uctypes.bytearray_at(addr, n))
            addr += n
        return out


def main():
    sh = Shell()
    sh.dm.platform = BoardPlatform()
    sh.write(BANNER % sys.implementation._machine + "\n")
    attach_disks(sh)
    reader = LineReader()

    def secret(prompt):
        sh.errout.write(prompt)
        sh.flush()
        line = LineReader(reader.inp, reader.out, echo=False).readline()
        sh.write("\n")
        return line.rstrip("\n").encode() if line else None

    sh.secret_reader = secret
    while True:
        try:
            sh.repl(reader, True)
            break
        except KeyboardInterrupt:
            # ^C outside a line (during a command the shell does not catch).
            sh.write("^C\n")
        except Exception as e:
            # Firmware has nothing to fall back to: a command that dies of
            # anything (MemoryError on a small heap) fails, the shell stays.
            print_exception(e, sh.errout)
            sh.error("dmfw: %s: %s" % (type(e).__name__, e))
            sh._set_status(1)
    sh.write("dmfw shell ended; MicroPython REPL follows\n")


def print_exception(e, out):
    pe = getattr(sys, "print_exception", None)
    if pe is not None:
        pe(e, out)


__all__ = ("main", "LineReader", "PROMPT")
