"""dmfw-harness: boot the QEMU guest and use it without pytest.

    dmfw-harness console [--disk FILE]... [--trust CERT]...   attach to the dmfw shell
    dmfw-harness run [--disk FILE]... [--trust CERT]... [--fw CMDS]... [--linux CMDS]...
                     [--expect REGEX [--timeout S]]
    dmfw-harness demo [--trust CERT]...     the firmware boots the Infix-like test OS
    dmfw-harness demo --bare-metal [--heap N] [--trust CERT]...
                                            the same choice and verification on the
                                            bare-metal firmware, up to the hand-off
    dmfw-harness build                      build the guest image if missing
    dmfw-harness run|console --bare-metal [--heap N] [--virtio-modern] [--disk FILE]...
                     [--trust CERT]... [--fw CMDS]...
                                            the same on the bare-metal firmware (dmfw
                                            frozen into MicroPython on QEMU's RISC-V virt
                                            machine, no Linux: one console, no --linux)

Disks are attached in order as /dev/vda, /dev/vdb, ...  Each --fw / --linux value is
run line by line; a line's status is that of its last command. With --expect, the
--fw lines are typed and the firmware console is then read (through a hand-off to a
new kernel) until a line matches REGEX; the exit status says whether it came.
--trust builds a certificate into the firmware's trusted keys for that run.
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

# What `pip install 'dmfw[harness]'` adds and this command needs: without them every
# subcommand stops with one line naming the extra (`--help` still works).
EXTRA = "harness"
NEEDS = ("pexpect", "qemu.qmp")
# The third-party top-level packages behind NEEDS: a ModuleNotFoundError for anything
# else is a bug and keeps its traceback.
_EXTRA_TOPS = ("pexpect", "ptyprocess", "qemu")

try:
    from harness.console import ConsoleDead, ConsoleError
    from harness.guest import Disk, boot
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] not in _EXTRA_TOPS:
        raise
    ConsoleDead = ConsoleError = Disk = boot = None


def missing_modules():
    """The modules of the [harness] extra that cannot be imported here."""
    missing = []
    for name in NEEDS:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # the parent package (qemu) is missing
            found = False
        if not found:
            missing.append(name)
    return missing


def extra_hint(missing):
    return ("dmfw-harness: the %s extra is not installed (no %s): "
            "pip install 'dmfw[%s]'" % (EXTRA, ", ".join(missing), EXTRA))


def _disks(args):
    return [Disk(path, readonly=args.readonly) for path in args.disk]


def _heading(title):
    return "==== %s ====" % title


def lines(scripts):
    return [line for script in scripts for line in script.splitlines() if line.strip()]


def run_side(console, commands, title, out=None, results=None):
    """Run commands on one console, printing each (to `out`, else the sys.stdout of
    the moment); returns the number of failures. results, when given, collects
    {command: (output, status)}."""
    out = out or sys.stdout
    failures = 0
    out.write(_heading(title) + "\n")
    for cmd in commands:
        dead = False
        try:
            output, status = console.run(cmd, timeout=600)
        except ConsoleError as exc:  # timed out (and ^C'd) or the console died
            output, status, dead = "%s\n" % exc, 124, isinstance(exc, ConsoleDead)
        if results is not None:
            results[cmd] = (output, status)
        out.write("$ %s\n%s" % (cmd, output))
        if output and not output.endswith("\n"):
            out.write("\n")
        if status:
            out.write("[exit %d]\n" % status)
            failures += 1
        if dead:
            break
    out.flush()
    return failures


def expect_console(console, commands, regex, timeout, out=None):
    """Type `commands` on the console, then print what it shows until a line
    matches `regex` (read across a hand-off: the console outlives the firmware).
    Returns True if it came within `timeout` seconds."""
    out = out or sys.stdout
    import re
    import pexpect
    pattern = re.compile(r"[^\n]*(?:%s)[^\n]*" % regex)
    for cmd in commands:
        console.send_line(cmd)
    try:
        console.child.expect(pattern, timeout=timeout)
        out.write(console.child.before.replace("\r", "") + console.child.after + "\n")
        return True
    except (pexpect.TIMEOUT, pexpect.EOF) as exc:
        out.write(str(console.child.before or "").replace("\r", ""))
        out.write("\n[%s: no line matching %r]\n" % (
            "timeout after %ss" % timeout if isinstance(exc, pexpect.TIMEOUT)
            else "console closed", regex))
        return False
    finally:
        out.flush()


def _boot(args):
    if not args.bare_metal:
        return boot(_disks(args), trust=args.trust)
    from harness import baremetal
    try:
        return baremetal.boot(_disks(args), heap=args.heap, trust=args.trust,
                              modern=args.virtio_modern)
    except (RuntimeError, ValueError) as exc:
        sys.exit("dmfw-harness: %s" % exc)


def cmd_run(args):
    if args.bare_metal and args.linux:
        sys.exit("dmfw-harness run --bare-metal: no Linux on the board, so no --linux")
    guest = _boot(args)
    try:
        sys.stderr.write("guest up in %.1fs\n" % guest.boot_seconds)
        failures = 0
        if args.expect:
            if args.linux:
                failures += run_side(guest.linux, lines(args.linux),
                                     "linux: kernel device mapper (hvc0)")
            sys.stdout.write(_heading("firmware console (%s)" % _fw_where(args)) + "\n")
            came = expect_console(guest.fw, lines(args.fw), args.expect, args.timeout)
            return 0 if came and not failures else 1
        if args.fw:
            failures += run_side(guest.fw, lines(args.fw),
                                 "firmware: dmfw shell (%s)" % _fw_where(args))
        if args.linux:
            failures += run_side(guest.linux, lines(args.linux),
                                 "linux: kernel device mapper (hvc0)")
        return 1 if failures else 0
    finally:
        guest.close()


def _fw_where(args):
    return "bare-metal UART" if args.bare_metal else "ttyS0"


def cmd_console(args):
    if not shutil.which("socat"):
        sys.exit("dmfw-harness console needs socat (scripts/setup-host.sh installs it)")
    guest = _boot(args)
    if args.bare_metal:
        try:
            guest.fw.close()
            sys.stderr.write("firmware up in %.1fs (bare metal: dmfw on MicroPython, no "
                             "Linux).  dmfw shell attached; press Enter for a prompt, "
                             "Ctrl-] leaves.\n%s\n" % (guest.boot_seconds, guest.banner))
            subprocess.call(["socat", "-,raw,echo=0,escape=0x1d",
                             "UNIX-CONNECT:" + guest.sock("serial")])
            return 0
        finally:
            guest.close()
    try:
        # Hand both sockets over: QEMU's socket chardevs take one client at a time.
        guest.fw.close()
        guest.linux.close()
        sys.stderr.write(
            "guest up in %.1fs.  Firmware console (dmfw shell) attached; Ctrl-] leaves.\n"
            "Linux root shell (kernel dm, real dmsetup), from another terminal:\n"
            "    socat -,raw,echo=0 UNIX-CONNECT:%s\n\n"
            % (guest.boot_seconds, guest.sock("hvc")))
        subprocess.call(["socat", "-,raw,echo=0,escape=0x1d",
                         "UNIX-CONNECT:" + guest.sock("serial")])
        return 0
    finally:
        guest.close()


def _demo_bare_metal(args, pv, trust):
    """The test OS is x86-64 and the board RISC-V: the firmware chooses, verifies and
    loads for x86-64 (--arch) and prints the hand-off a boot would make; no jump."""
    from harness import baremetal
    from images.baremetal import DEFAULT_HEAP
    try:
        fw = baremetal.boot([Disk(pv)], heap=args.heap, trust=trust)
    except (RuntimeError, ValueError) as exc:
        sys.exit("dmfw-harness: %s" % exc)
    try:
        print("firmware up in %.1fs (bare metal: dmfw frozen into MicroPython on QEMU's "
              "RISC-V virt, no Linux; a %d KiB heap, kernel and initrd loaded outside "
              "it)\nvda: one PV, VG infix, one LV per installed version; the firmware "
              "trusts %s\n" % (fw.boot_seconds, (args.heap or DEFAULT_HEAP) >> 10,
                                ", ".join(os.path.basename(t) for t in trust)))
        bad = run_side(fw.fw, ["boot -l --arch x86-64", "boot -n --arch x86-64"],
                       "firmware: the versions, and what a boot would hand off (the "
                       "x86-64 test OS cannot run on this board: no jump)")
        return 1 if bad else 0
    finally:
        fw.close()


def cmd_demo(args):
    """The main job: the firmware in the guest finds the test OS versions on LVs,
    says which it boots and why, and the new kernel comes up on the same console
    with the root it verified."""
    from images import guest as image, testos
    if not args.bare_metal:
        image.ensure()
    meta = testos.load("lvm")
    folder = tempfile.mkdtemp(prefix="dmfw-demo-")
    try:
        pv = os.path.join(folder, "pv.img")
        shutil.copyfile(meta["paths"][0], pv)
        trust = [os.path.join(meta["dir"], "good-cert.pem")] + list(args.trust)
        if args.bare_metal:
            return _demo_bare_metal(args, pv, trust)
        guest = boot([Disk(pv)], trust=trust)
        try:
            print("guest up in %.1fs (Debian %s kernel, dmfw under MicroPython on ttyS0)\n"
                  "vda: one PV, VG infix, one LV per installed version; the firmware trusts "
                  "%s\n" % (guest.boot_seconds, image.cached().manifest["kernel"],
                              ", ".join(os.path.basename(t) for t in trust)))
            bad = run_side(guest.fw, ["boot -l", "boot -n"],
                           "firmware: the versions, and what a boot would hand off")
            print()
            print(_heading("firmware: boot (kexec), then the booted kernel on the same "
                           "console"))
            came = expect_console(guest.fw, ["boot"], "TESTOS-END", args.timeout)
            return 1 if bad or not came else 0
        finally:
            guest.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cmd_build(args):
    from images import guest as image
    print(image.ensure().path)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="dmfw-harness", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    for name, helptext in (("console", "boot and attach to the firmware console"),
                           ("run", "boot, run commands on both consoles, print the output"),
                           ("demo", "a short dm session on dmfw next to the kernel"),
                           ("build", "build the guest image if missing")):
        p = sub.add_parser(name, help=helptext)
        if name in ("console", "run"):
            p.add_argument("--disk", action="append", default=[], metavar="FILE",
                           help="disk image, attached as vda, vdb, ... in order")
            p.add_argument("--readonly", action="store_true", help="attach disks read-only")
        if name in ("console", "run", "demo"):
            p.add_argument("--bare-metal", action="store_true",
                           help="the bare-metal firmware (QEMU RISC-V virt, no Linux) "
                                "instead of the Linux guest")
            p.add_argument("--heap", type=int, metavar="BYTES",
                           help="--bare-metal: the firmware's MicroPython heap size")
            p.add_argument("--virtio-modern", action="store_true",
                           help="--bare-metal: virtio-mmio version 2 instead of QEMU's "
                                "default legacy interface")
            p.add_argument("--trust", action="append", default=[], metavar="CERT",
                           help="build this certificate (PEM or DER) into the firmware's "
                                "trusted keys")
        if name in ("run", "demo"):
            p.add_argument("--timeout", type=float, default=300, metavar="S",
                           help="how long --expect (demo: the booted system) may take")
        if name == "run":
            p.add_argument("--fw", action="append", default=[], metavar="CMDS",
                           help="commands for the dmfw shell (one per line)")
            p.add_argument("--linux", action="append", default=[], metavar="CMDS",
                           help="commands for the Linux shell (one per line)")
            p.add_argument("--expect", metavar="REGEX",
                           help="after the --fw lines, read the firmware console until a "
                                "line matches (also after a hand-off); exit 0 only if so")
    args = parser.parse_args(argv)
    missing = missing_modules()
    if missing or boot is None:
        sys.stderr.write(extra_hint(missing or list(NEEDS)) + "\n")
        return 2
    return {"run": cmd_run, "console": cmd_console, "demo": cmd_demo,
            "build": cmd_build}[args.action](args)


if __name__ == "__main__":
    sys.exit(main())
