"""pytest plugin: the session's guest, its disks and the command-line options.

    --interactive       after boot, hand this terminal to the firmware console
                        (Ctrl-] returns to the tests)
    --blk FILE          attach FILE as an extra disk after the generated ones
    --guest-log FILE    console traffic of the session, in FILE.fw and FILE.linux
                        (default: in the temp dir)
    --lg-env ENV.yaml   (labgrid's own option) drive a board or labgrid's QEMUDriver
                        instead: only the firmware console exists, and tests marked
                        qemu_only are skipped
    --bare-metal-heap N the heap size of the bare-metal firmware the `baremetal`
                        fixture boots (default: images/baremetal.py's)

One guest boots per session.  Between tests the consoles are re-synced and both
device mappers emptied; a guest that stops answering is rebooted.  The bare-metal
firmware (`baremetal` fixture: dmfw on MicroPython on QEMU's RISC-V virt machine, no
Linux) boots once per session too, with the disks the `baremetal_disks` fixture gives
(a conftest may override it); it is skipped only where its toolchain or QEMU is
missing, and fails instead under CI.
"""
import contextlib
import os
import subprocess

import pytest

# The generated disks, in attach order (vda, vdb, ...): name, size, tag, blkdebug
# rules.  vdd is the scratch disk that write tests change; vde returns I/O errors at
# FAULT_READ sectors on read and FAULT_WRITE sectors on write.
FAULT_READ = (2048, 6144)
FAULT_WRITE = (4096,)
DISKS = (
    ("vda", 16 << 20, "a", ()),
    ("vdb", 16 << 20, "b", ()),
    ("vdc", 8 << 20, "c", ()),
    ("vdd", 16 << 20, "d", ()),
    ("vde", 4 << 20, "e", "faults"),
)


def pytest_addoption(parser):
    group = parser.getgroup("dmfw guest")
    group.addoption("--interactive", action="store_true",
                    help="attach the terminal to the firmware console after boot")
    group.addoption("--blk", action="append", default=[], metavar="FILE",
                    help="extra disk image for the guest (after the generated ones)")
    group.addoption("--guest-log", metavar="FILE",
                    help="console traffic goes to FILE.fw and FILE.linux")
    group.addoption("--bare-metal-heap", type=int, metavar="BYTES",
                    help="heap size of the bare-metal firmware (baremetal fixture)")


def pytest_report_header(config):
    if _on_board(config):
        return "dmfw guest: labgrid environment %s" % config.getoption("lg_env")
    from images import guest as image
    built = image.cached()
    return "dmfw guest: image %s (%s)" % (
        image.guest_dir(), "built, kernel " + built.manifest["kernel"] if built
        else "not built yet: the first guest test builds it")


def _on_board(config):
    return bool(config.getoption("lg_env", default=None))


def pytest_collection_modifyitems(config, items):
    if not _on_board(config):
        return
    skip = pytest.mark.skip(reason="needs QEMU (hot-plug, blkdebug or the kernel oracle)")
    for item in items:
        if "qemu_only" in item.keywords:
            item.add_marker(skip)


class GuestSession:
    """What tests see: consoles, disks, and QEMU when there is one."""

    def __init__(self, config, workdir, lg_env=None):
        self.config = config
        self.lg_env = lg_env  # labgrid's Environment (its `env` fixture) on a board
        self.workdir = workdir
        self.qemu = None
        self.fw = None
        self.linux = None
        self.disks = {}
        self.extra = list(config.getoption("blk"))
        self.log = config.getoption("guest_log") or os.path.join(workdir, "console.log")
        self.boots = 0
        self.target = None

    # --- disks --------------------------------------------------------------
    def make_disks(self):
        from harness.disks import pattern_disk
        from harness.guest import Disk, blkdebug_rule
        disks = []
        for name, size, tag, faults in DISKS:
            path = os.path.join(self.workdir, name + ".img")
            pattern_disk(path, size, tag)
            rules = []
            if faults:
                rules = [blkdebug_rule(s, "read") for s in FAULT_READ]
                rules += [blkdebug_rule(s, "write") for s in FAULT_WRITE]
            disks.append(Disk(path, errors=rules))
            self.disks[name] = path
        for i, path in enumerate(self.extra):
            disks.append(Disk(path))
            self.disks["vd" + chr(ord("a") + len(DISKS) + i)] = os.path.abspath(path)
        return disks

    # --- life ---------------------------------------------------------------
    def boot(self):
        if self.lg_env is not None:
            self._boot_labgrid()
        else:
            from harness.guest import boot
            # Fresh disks on every boot: a reboot also undoes what write tests did.
            self.qemu = boot(self.make_disks(), log=self.log)
            self.fw, self.linux = self.qemu.fw, self.qemu.linux
        self.boots += 1

    def _boot_labgrid(self):
        import harness.labgrid  # noqa: F401 (registers the driver and strategy)
        with board_errors(self.config):
            self.target = self.lg_env.get_target()
            strategy = self.target.get_driver("DmfwStrategy")
            strategy.transition("shell")
            self.fw = self.target.get_driver("DmfwShellDriver").console_interface()

    def close(self):
        if self.qemu:
            self.qemu.close()
            self.qemu = None
        if self.target:
            # Off (power, if any) rather than cleanup: labgrid's own `env` fixture
            # owns the target, and a reboot transitions it back to the shell.
            self.target.get_driver("DmfwStrategy").transition("off")
            self.target = None

    def healthy(self):
        from harness.console import ConsoleError
        try:
            for c in (self.fw, self.linux):
                if c:
                    c.sync(timeout=20)
            return True
        except (ConsoleError, OSError):
            return False

    def reset(self):
        """Both device mappers empty, both shells answering; reboot if they do not."""
        if (self.qemu and not self.qemu.alive()) or not self.healthy():
            self.close()
            self.boot()
        self.fw.run("dmsetup remove_all")
        if self.linux:
            self.linux.run("dmsetup remove_all; losetup -D 2>/dev/null")

    @contextlib.contextmanager
    def lend_serial(self):
        """The firmware console's socket for someone else (a person, labgrid's
        exporter): QEMU serves one client at a time.  Reconnected afterwards."""
        from harness.console import ConsoleError, FirmwareConsole
        from harness.guest import _connect
        self.qemu.fw.close()
        try:
            yield self.qemu.sock("serial")
        finally:
            try:
                self.qemu.fw = self.fw = FirmwareConsole(_connect(self.qemu.sock("serial")),
                                                         log=self.log)
                # ^C first: the borrower may have left a command running.
                self.fw.interrupt()
            except (OSError, ConsoleError):
                pass  # a guest that died meanwhile: the next reset() reboots it

    def interactive(self, capman):
        if not self.qemu:
            return
        with self.lend_serial() as serial, capman.global_and_fixture_disabled():
            print("\nguest up; firmware console attached, Ctrl-] returns to the tests.\n"
                  "Linux shell: socat -,raw,echo=0 UNIX-CONNECT:%s\n" % self.qemu.sock("attach"))
            subprocess.call(["socat", "-,raw,echo=0,escape=0x1d", "UNIX-CONNECT:" + serial])


@contextlib.contextmanager
def board_errors(config):
    """labgrid's exceptions on the way to a board's shell as one failure naming what
    is missing (coordinator, exporter, console port), without a traceback."""
    from harness.labgrid.errors import coordinator_address, explain
    try:
        yield
    except Exception as exc:
        # `from None`: the report shows this message, not labgrid's chain again.
        raise pytest.fail.Exception(explain(exc, coordinator_address(config)),
                                    pytrace=False) from None


@pytest.fixture(scope="session")
def guest_session(request, pytestconfig, tmp_path_factory):
    lg_env = None
    if _on_board(pytestconfig):
        with board_errors(pytestconfig):
            lg_env = request.getfixturevalue("env")
    session = GuestSession(pytestconfig, str(tmp_path_factory.mktemp("guest")), lg_env)
    session.boot()
    try:
        if pytestconfig.getoption("interactive"):
            session.interactive(pytestconfig.pluginmanager.getplugin("capturemanager"))
        if session.qemu:
            # Where a person can watch: the spare Linux shell of this very guest.
            reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
            if reporter:
                reporter.write_line(
                    "\nguest booted in %.1fs; attach: socat -,raw,echo=0 UNIX-CONNECT:%s; "
                    "logs: %s.{fw,linux}"
                    % (session.qemu.boot_seconds, session.qemu.sock("attach"), session.log))
        yield session
    finally:
        session.close()


@pytest.fixture
def guest(guest_session):
    """The session's guest, re-synced and with no dm devices on either side."""
    guest_session.reset()
    yield guest_session


@pytest.fixture
def qemu_guest(guest):
    if guest.qemu is None:
        pytest.skip("needs the QEMU guest")
    return guest


# --- the bare-metal firmware ---------------------------------------------------

# The default disks of the bare-metal session, in attach order: name, size, tag, and
# blkdebug read-error sectors.
BM_DISKS = (
    ("vda", 8 << 20, "a", ()),
    ("vdb", 8 << 20, "b", ()),
    ("vdc", 2 << 20, "e", (2048,)),
)


def bare_metal_pattern_disks(folder, disks=BM_DISKS):
    """[(name, Disk)] of pattern disks made in folder (fresh contents)."""
    from harness.disks import pattern_disk
    from harness.guest import Disk, blkdebug_rule
    out = []
    for name, size, tag, faults in disks:
        path = pattern_disk(os.path.join(folder, name + ".img"), size, tag)
        out.append((name, Disk(path, errors=[blkdebug_rule(s) for s in faults])))
    return out


def need_bare_metal(also=None):
    """Skip a bare-metal test where the firmware cannot be built or run here (or
    `also`, another missing tool's sentence, says so); under CI, where setup-host.sh
    installs everything, fail instead."""
    from harness import baremetal
    why = baremetal.missing() or also
    if why:
        if os.environ.get("CI"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)


class BareMetalSession:
    """The session's firmware: `fw` its console, `disks` {vdX: image path}."""

    def __init__(self, config, workdir, disks):
        self.config = config
        self.workdir = workdir
        self.named = list(disks)
        self.disks = dict((name, d.path) for name, d in self.named)
        self.log = config.getoption("guest_log")
        self.log = self.log + ".bm" if self.log else os.path.join(workdir, "console.log")
        self.heap = config.getoption("bare_metal_heap")
        self.guest = None
        self.fw = None
        self.boots = 0

    def boot(self):
        from harness import baremetal
        self.guest = baremetal.boot([d for _n, d in self.named], heap=self.heap, log=self.log)
        self.fw = self.guest.fw
        self.boots += 1

    def close(self):
        if self.guest:
            self.guest.close()
            self.guest = None

    def reset(self):
        """No dm devices, the shell answering; reboot if it does not."""
        from harness.console import ConsoleError
        try:
            if not self.guest.alive():
                raise ConsoleError("QEMU is gone")
            self.fw.sync(timeout=20)
        except (ConsoleError, OSError):
            self.close()
            self.boot()
        self.fw.run("dmsetup remove_all")


@pytest.fixture(scope="session")
def baremetal_disks(tmp_path_factory):
    """[(name, harness.guest.Disk)] the bare-metal firmware boots with (vda first)."""
    return bare_metal_pattern_disks(str(tmp_path_factory.mktemp("bm-disks")))


# Per module, not per session: the firmware polls its UART and keeps a host core busy
# while it runs, which the rest of the suite (2 cores) should not pay for; it boots
# in a fraction of a second.
@pytest.fixture(scope="module")
def baremetal_session(pytestconfig, tmp_path_factory, baremetal_disks):
    need_bare_metal()
    session = BareMetalSession(pytestconfig, str(tmp_path_factory.mktemp("bm")),
                               baremetal_disks)
    session.boot()
    try:
        reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
        if reporter:
            reporter.write_line("\nbare-metal firmware booted in %.2fs; log: %s"
                                % (session.guest.boot_seconds, session.log))
        yield session
    finally:
        session.close()


@pytest.fixture
def baremetal(baremetal_session):
    """The session's bare-metal firmware, answering, with no dm devices."""
    baremetal_session.reset()
    yield baremetal_session
