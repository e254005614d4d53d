"""dmfw-harness: boot the QEMU guest and use it without pytest.

    dmfw-harness console [--disk FILE]...          attach this terminal to the dmfw shell
    dmfw-harness run [--disk FILE]... [--fw CMDS]... [--linux CMDS]...
    dmfw-harness demo                              a short dm session, dmfw next to Linux
    dmfw-harness build                             build the guest image if missing

Disks are attached in order as /dev/vda, /dev/vdb, ...  Each --fw / --linux value is
run line by line; a line's status is that of its last command.
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


def run_side(console, commands, title, out=sys.stdout, results=None):
    """Run commands on one console, printing each; returns the number of failures.
    results, when given, collects {command: (output, status)}."""
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


def cmd_run(args):
    guest = boot(_disks(args))
    try:
        sys.stderr.write("guest up in %.1fs\n" % guest.boot_seconds)
        failures = 0
        if args.fw:
            failures += run_side(guest.fw, lines(args.fw), "firmware: dmfw shell (ttyS0)")
        if args.linux:
            failures += run_side(guest.linux, lines(args.linux),
                                 "linux: kernel device mapper (hvc0)")
        return 1 if failures else 0
    finally:
        guest.close()


def cmd_console(args):
    if not shutil.which("socat"):
        sys.exit("dmfw-harness console needs socat (scripts/setup-host.sh installs it)")
    guest = boot(_disks(args))
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


DEMO_TABLES = {
    "lin": "0 2048 linear /dev/vda 1024\n2048 2048 linear /dev/vdb 0",
    "str": "0 4096 striped 2 64 /dev/vda 0 /dev/vdb 2048",
}


def demo_disks(folder):
    """Two small disks whose every sector names its disk and sector number."""
    from harness.disks import pattern_disk
    return [pattern_disk(os.path.join(folder, "vd%s.img" % c), 4 << 20, tag=c)
            for c in "ab"]


def cmd_demo(args):
    from images import guest as image
    image.ensure()
    folder = tempfile.mkdtemp(prefix="dmfw-demo-")
    try:
        guest = boot([Disk(p) for p in demo_disks(folder)])
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        print("guest up in %.1fs (Debian %s kernel, dmfw under MicroPython on ttyS0)\n"
              % (guest.boot_seconds, image.cached().manifest["kernel"]))
        # The same command lines on both sides: real dmsetup reads a multi-line
        # --table argument too.
        session = ["dmsetup create %s --table '%s'" % item for item in DEMO_TABLES.items()]
        for name in DEMO_TABLES:
            session += ["dmsetup table %s" % name, "sha256sum /dev/mapper/%s" % name]
        session.append("dmsetup ls")
        # dmfw goes first: its shell can open any guest file, and must not read the
        # kernel's /dev/mapper nodes by mistake.
        fw, linux = {}, {}
        bad = run_side(guest.fw, session, "firmware: dmfw shell (MicroPython, ttyS0)",
                       results=fw)
        print()
        bad += run_side(guest.linux, session, "linux: kernel device mapper, real dmsetup (hvc0)",
                        results=linux)
        sums = ["sha256sum /dev/mapper/%s" % name for name in DEMO_TABLES]
        same = [cmd.split("/")[-1] for cmd in sums if fw[cmd][1] == 0 and fw[cmd] == linux[cmd]]
        print("\nsame sha256 on both sides: %s" % (", ".join(same) or "none"))
        return 1 if bad or len(same) != len(DEMO_TABLES) else 0
    finally:
        guest.close()
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
        if name == "run":
            p.add_argument("--fw", action="append", default=[], metavar="CMDS",
                           help="commands for the dmfw shell (one per line)")
            p.add_argument("--linux", action="append", default=[], metavar="CMDS",
                           help="commands for the Linux shell (one per line)")
    args = parser.parse_args(argv)
    missing = missing_modules()
    if missing or boot is None:
        sys.stderr.write(extra_hint(missing or list(NEEDS)) + "\n")
        return 2
    return {"run": cmd_run, "console": cmd_console, "demo": cmd_demo,
            "build": cmd_build}[args.action](args)


if __name__ == "__main__":
    sys.exit(main())
