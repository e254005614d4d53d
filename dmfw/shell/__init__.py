# The firmware shell: one object holding the device mapper, the block
# devices and the output streams, and a loop that runs command lines.
# The same code is the `dmfw shell` on the host and the firmware console
# in the guest.

import sys

from dmfw.errors import DMError, UsageError
from dmfw.devices import DeviceRegistry
from dmfw.mapper import DeviceMapper
from dmfw.shell.parse import split_commands, incomplete, expand
from dmfw.shell.commands import COMMANDS, USAGE
from dmfw.numbers import is_decimal

PROMPT = "dmfw> "
# The largest block device read whole as a command's input (a certificate disk).
READ_INPUT_MAX = 1 << 20

class Shell:
    def __init__(self, out=None, err=None):
        self.out = out or sys.stdout
        self.errout = err or sys.stderr
        self.devices = DeviceRegistry()
        self.dm = DeviceMapper(self.devices)
        self.status = 0
        self.failed = 0
        self.stdin_path = None
        self.running = True
        self.scanning = False       # attached the kernel's disks (--scan)
        self._mods = {}
        self._mounts = None

    @property
    def mounts(self):
        # Imported on first use: a minimal firmware freezes no file systems.
        if self._mounts is None:
            from dmfw.fs import Mounts
            self._mounts = Mounts()
        return self._mounts

    # -- output
    def write(self, s):
        self.out.write(s)

    def write_bytes(self, b):
        """File contents (cat): raw bytes where the stream takes them, else text."""
        buf = getattr(self.out, "buffer", None)
        if buf is not None:
            self.out.flush()
            buf.write(b)
            return
        try:
            self.out.write(b.decode())
        except UnicodeError:
            self.out.write("".join(chr(c) for c in b))

    def error(self, line):
        self.errout.write(line + "\n")

    def flush(self):
        for f in (self.out, self.errout):
            try:
                f.flush()
            except AttributeError:
                pass

    # -- input for commands that take data (`cmd < FILE`, or a path)
    def read_input(self, path):
        if path == "-" or path is None:
            path = self.stdin_path
            if path is None:
                data = sys.stdin.read()
                return data.encode() if isinstance(data, str) else data
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            pass
        # No such file, but a block device of that name (a firmware has no /dev
        # nodes): its contents, as reading /dev/vdX gives them on Linux.
        dev = self.devices.find(path) if path.startswith("/dev/") else None
        if dev is not None and dev.size_bytes() <= READ_INPUT_MAX:
            return bytes(dev.read(0, dev.nr_sectors))
        raise UsageError("%s: cannot open file" % path)

    # -- secrets (cryptsetup's passphrase prompt)
    # A platform whose console can read without echo sets `secret_reader`
    # to a function(prompt) -> bytes or None (end of input); the default
    # turns echo off on a terminal where termios exists.
    secret_reader = None

    def interactive(self):
        """Whether a passphrase prompt has a person behind it (retries)."""
        from dmfw.compat import isatty
        return self.stdin_path is None and (self.secret_reader is not None
                                            or isatty(sys.stdin))

    def read_secret(self, prompt):
        """One passphrase line, without its newline: from `cmd < FILE`, the
        platform's reader, or the console. None at end of input."""
        if self.stdin_path is not None:
            data = self.read_input(self.stdin_path)
            return data.split(b"\n")[0]
        if self.secret_reader is not None:
            return self.secret_reader(prompt)
        self.errout.write(prompt)
        self.flush()
        from dmfw.compat import read_secret_line
        line = read_secret_line(sys.stdin)
        if line is None:
            return None
        return line.encode() if isinstance(line, str) else line

    def read_answer(self, prompt):
        """A line typed in answer to prompt (echoed, unlike a secret), without its
        newline; None at end of input."""
        self.write(prompt)
        self.flush()
        if self.secret_reader is not None:
            line = self.secret_reader("")
        else:
            line = sys.stdin.readline()
        if not line:
            return None
        if isinstance(line, bytes):
            line = line.decode()
        return line.rstrip("\n")

    # -- disks
    def attach(self, devpath, filepath, readonly=False, devno=None):
        return self.devices.attach(devpath, filepath, readonly, devno, self.error)

    def resolve(self, spec, image=None, write=False):
        """dmfw.devices.resolve() with this shell's registry and warnings."""
        from dmfw.devices import resolve
        return resolve(self.devices, spec, image, write, self.error)

    def scan_sys(self):
        """Attach the real disks the kernel shows (guest / real hardware),
        and let go of those it no longer shows (hot-unplug) unless a table
        still uses them. Returns (added, removed) kernel names."""
        from dmfw.compat import listdir, read_text
        self.scanning = True
        present = listdir("/sys/block")
        before = set(self.devices.by_name)
        removed = []
        for dev in list(self.devices.by_name.values()):
            path = getattr(dev, "path", None)
            if path != "/dev/" + dev.name or dev.name in present:
                continue
            family = [d for d in self.devices.by_name.values()
                      if d is dev or getattr(d, "parent", None) is dev]
            if [d for d in family if self.dm.holders(d)]:
                self.error("%s: gone, but still used by a dm table" % dev.name)
                continue
            for d in family:
                self.devices.remove(d)
            dev.close()
            removed.append(dev.name)
        for name in sorted(present):
            if name.startswith("ram") or name in self.devices.by_name:
                continue
            size = read_text("/sys/block/%s/size" % name)
            if not size or not is_decimal(size.strip()) or int(size) == 0:
                continue
            try:
                self.devices.attach_sysfs(name, self.error)
            except DMError as e:
                self.error("%s: %s" % (name, e))
        added = sorted([n for n in self.devices.by_name if n not in before])
        return added, removed

    def scan_partitions(self, dev):
        self.devices.scan_partitions(dev, self.error)

    # -- running commands
    def run_line(self, line):
        try:
            cmds = split_commands(line)
        except UsageError as e:
            self.error("dmfw: %s" % e)
            self._set_status(2)
            return self.status
        for argv, redirect in cmds:
            self.run(expand(argv, self.status), redirect)
            if not self.running:
                break
        return self.status

    def run(self, argv, redirect=None):
        name = argv[0]
        if name == "exit":
            self.running = False
            code = self.failed
            if len(argv) > 1 and is_decimal(argv[1]):
                code = int(argv[1])
            self.status = code
            return code
        entry = COMMANDS.get(name)
        if entry is None:
            self.error("dmfw: %s: command not found" % name)
            return self._set_status(127)
        if len(argv) == 2 and argv[1] in ("-h", "--help") and name in USAGE:
            self.write(USAGE[name])
            return self._set_status(0)
        self.stdin_path = redirect
        try:
            fn = self._command(entry)
            st = fn(self, argv)
        except DMError as e:
            self.error("%s: %s" % (name, e))
            st = 1
        except KeyboardInterrupt:
            self.error("^C")
            st = 130
        except MemoryError:
            # A firmware's heap is small: a command that does not fit fails, the
            # shell (and the rest of the line) goes on.
            self.error("%s: out of memory" % name)
            st = 1
        finally:
            self.stdin_path = None
        self.flush()
        return self._set_status(st or 0)

    def _command(self, entry):
        mod = self._mods.get(entry[0])
        if mod is None:
            mod = __import__(entry[0], None, None, [entry[1]])
            self._mods[entry[0]] = mod
        return getattr(mod, entry[1])

    def _set_status(self, st):
        self.status = st
        if st:
            self.failed = st
        return st

    def repl(self, f, prompt):
        buf = ""
        while self.running:
            if prompt:
                self.write("> " if buf else PROMPT)
                self.flush()
            try:
                line = f.readline()
            except KeyboardInterrupt:
                self.write("^C\n")
                buf = ""
                continue
            if not line:
                break
            line = line.rstrip("\r\n") if isinstance(line, str) else \
                line.decode().rstrip("\r\n")
            buf = buf + "\n" + line if buf else line
            if incomplete(buf):
                continue
            self.run_line(buf)
            buf = ""
        return self.failed


def main(argv):
    """dmfw shell [--disk /dev/NAME=FILE]... [--ro] [--scan] [-c CMDS] [-i]"""
    from dmfw.compat import isatty
    sh = Shell()
    script = None
    interactive = False
    i = 0
    nextdisk = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--disk", "--ro-disk") and i + 1 < len(argv):
            spec = argv[i + 1]
            i += 2
            if "=" in spec:
                devpath, path = spec.split("=", 1)
            else:
                devpath, path = "/dev/vd" + chr(ord("a") + nextdisk), spec
            nextdisk += 1
            try:
                sh.attach(devpath, path, readonly=(a == "--ro-disk"))
            except DMError as e:
                sh.error("dmfw: --disk %s: %s" % (spec, e))
                return 1
        elif a == "--scan":
            sh.scan_sys()
            i += 1
        elif a == "-c" and i + 1 < len(argv):
            script = argv[i + 1]
            i += 2
        elif a == "-i":
            interactive = True
            i += 1
        elif a in ("-h", "--help"):
            sh.write(main.__doc__ + "\n")
            return 0
        else:
            sh.error("dmfw shell: unknown argument %s" % a)
            return 2
    if script is not None:
        for line in script.split("\n"):
            sh.run_line(line)
            if not sh.running:
                break
        return sh.status if not sh.running else sh.failed
    prompt = interactive or isatty(sys.stdin)
    code = sh.repl(sys.stdin, prompt)
    return sh.status if not sh.running else code
