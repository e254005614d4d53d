"""One command interface over a text console: `run(cmd, timeout) -> (output, status)`.

Every command is framed by two markers printed by the shell itself:

    echo __DMF''B<n>__; CMD; echo __DMF''E<n>_$?__

The quotes split the marker as typed, so a console that echoes input never shows the
marker the harness waits for; the text between the two printed markers is the
command's output, and the number in the end marker its exit status.  The same framing
works for busybox sh (Linux side) and for the dmfw shell (firmware side), and over any
byte stream: a QEMU socket here, a labgrid ConsoleProtocol in harness/labgrid.
"""
import itertools
import re
import time

import pexpect
import pexpect.fdpexpect

_nonce = itertools.count(int(time.time()) % 100000 * 1000)
MAX_LINE = 4000


class ConsoleError(RuntimeError):
    pass


class ConsoleDead(ConsoleError):
    """The shell did not answer even after ^C: the guest needs a reboot."""


class CommandFailed(ConsoleError):
    def __init__(self, cmd, output, status, where):
        super().__init__("%s: %r exited %d:\n%s" % (where, cmd, status, output))
        self.cmd, self.output, self.status = cmd, output, status


def frame(cmd, n, sep="; "):
    """The line sent for cmd, and the regex that finds its output and status."""
    line = "echo __DMF''B%d__%s%s%secho __DMF''E%d_$?__" % (n, sep, cmd, sep, n)
    pattern = re.compile(r"__DMFB%d__\r?\n(.*?)__DMFE%d_(\d+)__" % (n, n), re.S)
    return line, pattern


def clean(text):
    return text.replace("\r\n", "\n").replace("\r", "")


class Console:
    """A shell reached over a pexpect spawn (fdspawn on a socket, or any spawn)."""

    name = "console"
    sep = "; "
    eol = "\n"

    def __init__(self, spawn_or_socket, log=None):
        if hasattr(spawn_or_socket, "expect"):
            self.child = spawn_or_socket
            self._sock = None
        else:
            self._sock = spawn_or_socket
            self.child = pexpect.fdpexpect.fdspawn(
                spawn_or_socket.fileno(), encoding="utf-8", codec_errors="replace",
                timeout=60, maxread=65536)
        self.child.delaybeforesend = None
        if log:
            # One file per console (LOG.fw, LOG.linux): interleaved they are unreadable.
            self.child.logfile_read = _Log("%s.%s" % (log, self.name))

    def send_line(self, line):
        self.child.send(line + self.eol)

    def run(self, cmd, timeout=60):
        """Run cmd; return (output, status).  On timeout, ^C and resync, then raise."""
        n = next(_nonce)
        line, pattern = frame(cmd, n, self.sep)
        if max(len(part.encode()) for part in line.split("\n")) > MAX_LINE:
            # A canonical-mode tty keeps 4095 bytes of a line and drops the rest.
            raise ConsoleError("%s: a line of %r is longer than a tty takes (%d bytes)"
                               % (self.name, cmd[:60], MAX_LINE))
        self.send_line(line)
        try:
            self.child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            self.interrupt()
            raise ConsoleError("%s: %r gave no end marker within %ss" % (self.name, cmd, timeout))
        except pexpect.EOF:
            raise ConsoleDead("%s: connection closed during %r" % (self.name, cmd))
        return clean(self.child.match.group(1)), int(self.child.match.group(2))

    def check(self, cmd, timeout=60):
        """Run cmd and return its output; raise CommandFailed on a non-zero status."""
        out, status = self.run(cmd, timeout)
        if status:
            raise CommandFailed(cmd, out, status, self.name)
        return out

    def interrupt(self, timeout=15):
        """^C, then prove the shell answers again."""
        self.child.send("\x03")
        time.sleep(0.2)
        self.child.send(self.eol)
        self.sync(timeout)

    def sync(self, timeout=60, every=3.0):
        """Wait until the shell runs commands (at boot, or after trouble)."""
        n = next(_nonce)
        line, pattern = frame("true", n, self.sep)
        deadline = time.monotonic() + timeout
        while True:
            self.send_line(line)
            try:
                left = max(0.1, deadline - time.monotonic())
                self.child.expect(pattern, timeout=min(every, left))
                return
            except pexpect.TIMEOUT:
                if time.monotonic() >= deadline:
                    raise ConsoleDead("%s: no answer within %ss" % (self.name, timeout))
            except pexpect.EOF:
                raise ConsoleDead("%s: connection closed" % self.name)

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass


class LinuxConsole(Console):
    """busybox sh on the guest's hvc0: the kernel oracle and the bulk-data channel."""

    name = "linux"
    sep = "\n"  # so CMD may span lines or end in a comment

    def sync(self, timeout=60, every=3.0):
        super().sync(timeout, every)
        # Echo and CR/LF translation off: less traffic, output byte-exact; a
        # pipeline fails when any part does (dd ... | sha256sum).
        self.run("stty -echo -onlcr; PS1=''; PS2=''; set -o pipefail")


class FirmwareConsole(Console):
    """The dmfw shell on the serial console (ttyS0 in the guest, a board's UART)."""

    name = "fw"


class _Log:
    """A pexpect logfile appending a console's traffic to a file."""

    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8", errors="replace")

    def write(self, data):
        self.f.write(data)

    def flush(self):
        self.f.flush()
