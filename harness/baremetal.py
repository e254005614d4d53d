"""The bare-metal target: dmfw frozen into MicroPython on QEMU's RISC-V `virt` machine
(images/baremetal.py), no Linux underneath.  One console - the dmfw shell on the UART
(QEMU's serial on a unix socket, pexpect over it) - and virtio-blk disks on the
virtio-mmio transports, attached in order as vda, vdb, ...

QEMU waits for the harness on the serial socket before it runs the firmware (a socket
chardev without a client drops output), and dies with its parent (PR_SET_PDEATHSIG).
There is no kernel side: the oracle for the tests is the host (the same image files,
hashed and read here).
"""
import os
import shutil
import signal
import tempfile
import time

from harness.console import FirmwareConsole
from harness.guest import Disk, QemuProcess, _connect, _json

QEMU = "qemu-system-riscv32"
# The transports QEMU's virt machine has: at most this many disks.
MAX_DISKS = 8


class BareMetalConsole(FirmwareConsole):
    """The dmfw shell on the firmware's UART: lines end in \\r (the Enter key of a
    serial terminal); the firmware's line editor echoes what it reads."""

    eol = "\r"


def board_args(disks, modern=False):
    """QEMU arguments for the disks (harness.guest.Disk) as virtio-mmio devices, and
    the interface version; what this harness and the labgrid environment share."""
    argv = []
    if modern:
        argv += ["-global", "virtio-mmio.force-legacy=false"]
    # QEMU gives the first -device the last transport; the firmware names disks
    # in command-line order, so vda is the first here.
    for i, disk in enumerate(disks):
        disk = disk if isinstance(disk, Disk) else Disk(disk)
        node = "disk%d" % i
        argv += ["-blockdev", _json(disk.blockdev(node)),
                 "-device", "virtio-blk-device,drive=%s-fmt,id=%s" % (node, node)]
    return argv


class BareMetalGuest(QemuProcess):
    """One running firmware: `fw` is the dmfw shell, `linux` is None (no kernel)."""

    linux = None

    # memory (MiB): the firmware's load region for a boot payload ends below the top
    # 2 MiB of 128 (dmfw/platform/baremetal.py LOAD_END).
    def __init__(self, elf, disks=(), memory=128, log=None, modern=False, workdir=None):
        if len(disks) > MAX_DISKS:
            raise ValueError("QEMU's virt machine has %d virtio-mmio transports, not %d"
                             % (MAX_DISKS, len(disks)))
        self.elf = elf
        self.disks = [d if isinstance(d, Disk) else Disk(d) for d in disks]
        self.memory = memory
        self.log = log
        self.modern = modern
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="dmfw-bm-")
        self.proc = None
        self.fw = None
        self.boot_seconds = None
        self.banner = ""
        self.qemu_log = None

    def command_line(self):
        argv = [QEMU, "-machine", "virt", "-m", str(self.memory), "-bios", "none",
                "-kernel", self.elf, "-nodefaults", "-no-user-config", "-display", "none",
                "-monitor", "none", "-no-reboot",
                "-chardev", "socket,id=ser0,path=%s,server=on,wait=on" % self.sock("serial"),
                "-serial", "chardev:ser0"]
        return argv + board_args(self.disks, self.modern)

    def start(self, timeout=60):
        """Boot to the shell prompt; returns self."""
        import pexpect
        started = time.monotonic()
        self._spawn()
        try:
            self._wait_socket(self.sock("serial"))
            self.fw = BareMetalConsole(_connect(self.sock("serial")), log=self.log)
            try:
                self.fw.child.expect("dmfw> ", timeout=timeout)
            except (pexpect.TIMEOUT, pexpect.EOF):
                raise RuntimeError("the firmware showed no dmfw prompt within %ss:\n%s"
                                   % (timeout, self.fw.child.before))
            self.banner = self.fw.child.before.replace("\r", "")
            self.fw.sync(timeout=timeout)
            self.boot_seconds = time.monotonic() - started
        except BaseException as exc:
            self._boot_failed(exc)
            raise
        return self

    def close(self):
        try:
            if self.proc and self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self.proc:
                self.proc.wait()
        finally:
            if self.fw:
                self.fw.close()
            if self.own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)


def missing():
    """Why the bare-metal target cannot run here (a sentence), or None."""
    from images import baremetal
    tools = baremetal.missing_tools()
    if not shutil.which(QEMU):
        tools.append(QEMU + " (qemu-system-misc)")
    if tools:
        return "the bare-metal firmware needs %s: %s" % (", ".join(tools), baremetal.HINT)
    return None


def boot(disks=(), heap=None, trust=(), log=None, modern=False, progress=None,
         timeout=60):
    """A started firmware (built first if missing) with `disks` as vda, vdb, ...;
    `trust` (certificate files) are built into its trusted keys."""
    from images import baremetal
    why = missing()
    if why:
        raise RuntimeError(why)
    fw = baremetal.ensure(heap or baremetal.DEFAULT_HEAP, trust=trust, progress=progress)
    return BareMetalGuest(fw.elf, disks, log=log, modern=modern).start(timeout)
