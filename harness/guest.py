"""The QEMU guest process: boot, consoles, QMP control, disk hot-plug and fault injection.

QEMU starts paused (-S) with its serial port, virtio console and QMP on unix sockets;
the harness connects all three, then sends `cont` - a socket chardev without a client
drops guest output.  QEMU dies with its parent (PR_SET_PDEATHSIG) and is killed in
`close()`, so a killed pytest leaves no guest behind.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness.console import FirmwareConsole, LinuxConsole

QEMU = "qemu-system-x86_64"
HOTPLUG_PORTS = 4

_accel = None


def _die_with_parent():
    # Runs in the child between fork and exec: SIGKILL when the harness goes away
    # (strictly: when the thread that started QEMU ends; start guests from a thread
    # that outlives them).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgid(0, 0)


def accel_args():
    """KVM when it really works here, else TCG.

    On nested hosts /dev/kvm can exist while QEMU aborts setting MSRs with
    `-cpu max`; a two-second trial run tells.  DMFW_ACCEL=kvm|tcg overrides.
    """
    global _accel
    if _accel is None:
        _accel = os.environ.get("DMFW_ACCEL") or _probe_kvm()
    if _accel == "kvm":
        return ["-accel", "kvm", "-cpu", "max"]
    return ["-accel", "tcg,thread=multi", "-cpu", "max"]


def _probe_kvm():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    proc = subprocess.Popen(
        [QEMU, "-accel", "kvm", "-cpu", "max", "-machine", "q35", "-nodefaults",
         "-display", "none", "-no-reboot"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    try:
        proc.wait(2)
        return "tcg"  # exited (aborted) within two seconds
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "kvm"


class Disk:
    """A disk image attached to the guest on a PCIe root port."""

    def __init__(self, path, readonly=False, errors=()):
        self.path = os.path.abspath(path)
        self.readonly = readonly
        self.errors = list(errors)  # blkdebug rules, see blkdebug_rule()

    def blockdev(self, node):
        fmt = {"driver": "raw", "node-name": node + "-fmt", "read-only": self.readonly}
        proto = {"driver": "file", "filename": self.path, "node-name": node + "-file",
                 "read-only": self.readonly, "locking": "off"}
        if self.errors:
            fmt["file"] = {"driver": "blkdebug", "node-name": node + "-dbg",
                           "inject-error": self.errors, "image": proto}
        else:
            fmt["file"] = proto
        return fmt


def blkdebug_rule(sector, iotype="read", errno=5, once=False):
    """An I/O error for every request of iotype touching sector (512-byte units)."""
    return {"event": iotype + "_aio", "iotype": iotype, "sector": sector,
            "errno": errno, "once": once, "immediately": False}


class QemuProcess:
    """What every QEMU the harness starts shares, whatever the machine: its sockets
    in `workdir`, its log, start-up failures reported with QEMU's own words,
    liveness, `with`. Subclasses set proc/workdir/qemu_log and give command_line(),
    start() and close()."""

    def sock(self, name):
        return os.path.join(self.workdir, name + ".sock")

    def _spawn(self):
        self.qemu_log = os.path.join(self.workdir, "qemu.log")
        with open(self.qemu_log, "wb") as logf:
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent)

    def _boot_failed(self, exc):
        """Called in start()'s handler: close, and when QEMU itself died, raise that
        with its log; otherwise the caller re-raises exc."""
        died = self.proc is not None and self.proc.poll() is not None
        why = self._log_tail() if died else ""
        self.close()
        if died and isinstance(exc, Exception):
            raise RuntimeError("QEMU exited (%d) during boot:\n%s"
                               % (self.proc.returncode, why)) from exc

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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class QemuGuest(QemuProcess):
    """One running guest: `fw` is the firmware console (dmfw shell on ttyS0), `linux`
    the root shell on hvc0, `qmp` the monitor."""

    def __init__(self, kernel, initrds, disks=(), memory=1024, smp=2, append="",
                 log=None, workdir=None, own_workdir=None):
        self.kernel = kernel
        self.initrds = list(initrds)
        self.disks = [d if isinstance(d, Disk) else Disk(d) for d in disks]
        self.memory = memory
        self.smp = smp
        self.append = append
        self.log = log
        self.qemu_log = None
        # The sockets' folder goes with the guest unless the caller lent it.
        self.own_workdir = workdir is None if own_workdir is None else own_workdir
        self.workdir = workdir or tempfile.mkdtemp(prefix="dmfw-qemu-")
        self.proc = None
        self.qmp = None
        self.fw = None
        self.linux = None
        self.boot_seconds = None
        self.hotplugged = {}
        self._events = []

    def command_line(self):
        argv = [QEMU, "-machine", "q35", "-m", str(self.memory), "-smp", str(self.smp),
                "-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
                "-no-reboot", "-S"] + accel_args()
        argv += ["-kernel", self.kernel, "-initrd", self._initrd(),
                 "-append", ("console=ttyS0 loglevel=3 panic=-1 " + self.append).strip()]
        argv += ["-chardev", "socket,id=ser0,path=%s,server=on,wait=off" % self.sock("serial"),
                 "-serial", "chardev:ser0",
                 "-device", "virtio-serial-pci,id=vser0",
                 "-chardev", "socket,id=hvc0,path=%s,server=on,wait=off" % self.sock("hvc"),
                 "-device", "virtconsole,chardev=hvc0,bus=vser0.0",
                 "-chardev", "socket,id=hvc1,path=%s,server=on,wait=off" % self.sock("attach"),
                 "-device", "virtconsole,chardev=hvc1,bus=vser0.0",
                 "-qmp", "unix:%s,server=on,wait=off" % self.sock("qmp")]
        # One root port per disk, in order, so the kernel names them vda, vdb, ...;
        # spare ports take hot-plugged disks.
        for i in range(len(self.disks) + HOTPLUG_PORTS):
            argv += ["-device", "pcie-root-port,id=rp%d,chassis=%d,slot=%d" % (i, i + 1, i + 1)]
        for i, disk in enumerate(self.disks):
            node = "disk%d" % i
            argv += ["-blockdev", _json(disk.blockdev(node)),
                     "-device", "virtio-blk-pci,drive=%s-fmt,id=%s,bus=rp%d" % (node, node, i)]
        return argv

    def _initrd(self):
        # x86 QEMU takes one initrd file; Linux unpacks concatenated cpio archives
        # one after the other, so later ones (the dmfw overlay) win.
        if len(self.initrds) == 1:
            return self.initrds[0]
        path = os.path.join(self.workdir, "initrd.cpio")
        if not os.path.exists(path):
            with open(path, "wb") as out:
                for part in self.initrds:
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
        return path

    def start(self, timeout=120):
        """Boot to both prompts; returns self."""
        import qemu.qmp.legacy
        started = time.monotonic()
        self._spawn()
        try:
            for name in ("qmp", "serial", "hvc"):
                self._wait_socket(self.sock(name))
            self.qmp = qemu.qmp.legacy.QEMUMonitorProtocol(self.sock("qmp"))
            self.qmp.connect()
            self.fw = FirmwareConsole(_connect(self.sock("serial")), log=self.log)
            self.linux = LinuxConsole(_connect(self.sock("hvc")), log=self.log)
            self.command("cont")
            self.linux.sync(timeout=timeout)
            self.fw.sync(timeout=timeout)
            self.boot_seconds = time.monotonic() - started
        except BaseException as exc:
            self._boot_failed(exc)
            raise
        return self

    def command(self, name, **args):
        resp = self.qmp.cmd_raw(name, args or None)
        if "error" in resp:
            raise RuntimeError("QMP %s: %s" % (name, resp["error"].get("desc", resp["error"])))
        return resp.get("return")

    def wait_event(self, name, timeout=30, match=None):
        deadline = time.monotonic() + timeout
        while True:
            for ev in self._events + self.qmp.get_events(wait=False):
                if ev.get("event") == name and (match is None or match(ev.get("data", {}))):
                    self._events = []
                    return ev
            self._events = []
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no QMP event " + name)
            try:
                self._events = self.qmp.get_events(wait=min(left, 1.0))
            except Exception:  # asyncio.TimeoutError on a quiet second
                pass

    # --- disks -------------------------------------------------------------
    def hotplug(self, disk, readonly=False, errors=()):
        """Attach a disk on a spare root port; returns its id for unplug()."""
        disk = disk if isinstance(disk, Disk) else Disk(disk, readonly, errors)
        used = {port for port in self.hotplugged.values()}
        port = next(i for i in range(len(self.disks), len(self.disks) + HOTPLUG_PORTS)
                    if i not in used)
        node = "hp%d" % port
        self.qmp.cmd_obj({"execute": "blockdev-add", "arguments": disk.blockdev(node)})
        self.command("device_add", driver="virtio-blk-pci", drive=node + "-fmt", id=node,
                     bus="rp%d" % port)
        self.hotplugged[node] = port
        return node

    def unplug(self, node, timeout=30):
        self.command("device_del", id=node)
        self.wait_event("DEVICE_DELETED", timeout, lambda d: d.get("device") == node)
        self.command("blockdev-del", **{"node-name": node + "-fmt"})
        del self.hotplugged[node]

    # --- end ---------------------------------------------------------------
    def close(self):
        try:
            if self.qmp and self.alive():
                try:
                    self.qmp.cmd_raw("quit")
                except Exception:
                    pass
            if self.proc:
                try:
                    self.proc.wait(3)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if self.proc and self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
            for c in (self.fw, self.linux):
                if c:
                    c.close()
            if self.qmp:
                try:
                    self.qmp.close()
                except Exception:
                    pass
            if self.own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)


def _connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def _json(obj):
    import json
    return json.dumps(obj, separators=(",", ":"))


def boot(disks=(), build_progress=None, trust=(), **kw):
    """A started guest from the cached image (built first if missing) plus the
    working tree's dmfw overlay; `trust` (certificate files) are built into the
    firmware's trusted keys, as a vendor builds them in."""
    global _accel
    from images import guest as image, overlay
    img = image.ensure(build_progress)
    while True:
        workdir = tempfile.mkdtemp(prefix="dmfw-qemu-")
        certs = []
        for path in trust:
            with open(path, "rb") as f:
                certs.append(f.read())
        ovl = overlay.write_overlay(os.path.join(workdir, "overlay.cpio"), image.MODULES,
                                    certs)
        guest = QemuGuest(img.kernel, [img.initrd, ovl], disks, workdir=workdir,
                          own_workdir=True, **kw)
        try:
            return guest.start()
        except Exception:
            # KVM that passed the trial run can still lose the guest (nested hosts):
            # once, fall back to TCG.
            if accel_args()[1] != "kvm" or os.environ.get("DMFW_ACCEL"):
                raise
            _accel = "tcg"
