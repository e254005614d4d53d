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
import socket
import subprocess
import tempfile
import time

from harness.console import FirmwareConsole
from harness.guest import Disk, _die_with_parent, _json

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


class BareMetalGuest:
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
        self.qemu_log = os.path.join(self.workdir, "qemu.log")

    def sock(self, name):
        return os.path.join(self.workdir, name + ".sock")

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
        with open(self.qemu_log, "wb") as logf:
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent)
        try:
            self._wait_socket(self.sock("serial"))
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.sock("serial"))
            self.fw = BareMetalConsole(s, log=self.log)
            try:
                self.fw.child.expect("dmfw> ", timeout=timeout)
            except (pexpect.TIMEOUT, pexpect.EOF):
                raise RuntimeError("the firmware showed no dmfw prompt within %ss:\n%s"
                                   % (timeout, self.fw.child.before))
            self.banner = self.fw.child.before.replace("\r", "")
            self.fw.sync(timeout=timeout)
            self.boot_seconds = time.monotonic() - started
        except BaseException as exc:
            died = self.proc.poll() is not None
            why = self._log_tail() if died else ""
            self.close()
            if died and isinstance(exc, Exception):
                raise RuntimeError("QEMU exited (%d) during boot:\n%s"
                                   % (self.proc.returncode, why)) from exc
            raise
        return self

    def _log_tail(self, size=2000):
        try:
            with open(self.qemu_log, errors="replace") as f:
                return f.read()[-size:]
        except OSError:
            return ""

    def _wait_socket(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if self.proc.poll() is not None:
                raise RuntimeError("QEMU exited (%d) before opening %s:\n%s"
                                   % (self.proc.returncode, path, self._log_tail()))
            if time.monotonic() > deadline:
                raise TimeoutError("QEMU did not create " + path)
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


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
