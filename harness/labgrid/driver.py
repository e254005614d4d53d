"""DmfwShellDriver: labgrid's CommandProtocol for the dmfw shell over any ConsoleProtocol.

Commands are framed exactly as in harness/console.py (the same code runs them), so a
test written against `run(cmd) -> (output, status)` runs unchanged on QEMU sockets,
labgrid's QEMUDriver and a real board's UART.
"""
import re
import time

import attr
import pexpect
from labgrid.driver.commandmixin import CommandMixin
from labgrid.driver.common import Driver
from labgrid.driver.exception import ExecutionError
from labgrid.factory import target_factory
from labgrid.protocol import CommandProtocol, ConsoleProtocol
from labgrid.step import step

from harness.console import Console, ConsoleDead, ConsoleError


def port_name(console):
    """Where a console driver's bytes go: a device or a remote port's URL."""
    port = getattr(getattr(console, "serial", None), "port", None)
    return (port or str(console)).split("?")[0]


class _Stream:
    """The slice of a pexpect spawn that harness.console.Console uses, over a
    labgrid ConsoleProtocol (which speaks bytes)."""

    delaybeforesend = None

    def __init__(self, console):
        self.console = console
        self.match = None

    def _lost(self, exc):
        # pyserial's own errors (a remote port's socket gone, a USB UART unplugged)
        # would escape the tests' ConsoleError handling with a bare traceback.
        return ConsoleDead("console %s lost (%s): the exporter or its ser2net gone, "
                           "or the UART unplugged" % (port_name(self.console), exc))

    def send(self, text):
        try:
            self.console.write(text.encode())
        except OSError as exc:  # pyserial's SerialException is one
            raise self._lost(exc) from exc

    def expect(self, pattern, timeout=30):
        if isinstance(pattern, str):
            pattern = re.compile(re.escape(pattern))
        raw = re.compile(pattern.pattern.encode(), pattern.flags & ~re.UNICODE)
        started = time.monotonic()
        try:
            _, _, match, _ = self.console.expect(raw, timeout=timeout)
        except OSError as exc:  # pyserial's SerialException is one
            raise self._lost(exc) from exc
        except pexpect.TIMEOUT:
            # labgrid reports a connection closed by the peer as a timeout, at once.
            if time.monotonic() - started < timeout - 1:
                raise self._lost("connection closed by the peer") from None
            raise
        self.match = _Decoded(match)
        return 0


class _Decoded:
    def __init__(self, match):
        self._m = match

    def group(self, i):
        return self._m.group(i).decode("utf-8", "replace")


class FirmwareShell(Console):
    name = "fw"


@target_factory.reg_driver
@attr.s(eq=False)
class DmfwShellDriver(CommandMixin, Driver, CommandProtocol):
    """The dmfw shell (`dmfw> `) on a console.

    Args:
        prompt (str): the shell's prompt, awaited on activation
        repl_start (str): sent when the console shows a MicroPython REPL (`>>> `)
            instead, to start the shell there (a board whose main.py does not)
        login_timeout (int): seconds to wait for the shell at activation
    """
    bindings = {"console": ConsoleProtocol}
    prompt = attr.ib(default="dmfw> ", validator=attr.validators.instance_of(str))
    repl_start = attr.ib(default="from dmfw.shell import main; main(['-i'])",
                         validator=attr.validators.instance_of(str))
    login_timeout = attr.ib(default=120, validator=attr.validators.instance_of(int))

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self._shell = None

    def on_activate(self):
        self._shell = FirmwareShell(_Stream(self.console))
        self._await_shell()

    def on_deactivate(self):
        self._shell = None

    def _await_shell(self):
        # Whatever the console shows (boot messages, a REPL, a half-typed line),
        # a ^C and a marker echo reach the shell; a REPL gets the start command.
        self.console.write(b"\x03\n")
        try:
            idx, _, _, _ = self.console.expect([self.prompt.encode(), b">>> "],
                                               timeout=self.login_timeout)
        except Exception as exc:
            raise ExecutionError("no dmfw shell prompt on the console") from exc
        if idx == 1:
            self.console.write((self.repl_start + "\r\n").encode())
        self._shell.sync(timeout=self.login_timeout)

    def console_interface(self):
        """The `run(cmd) -> (output, status)` object the guest tests use."""
        return self._shell

    @Driver.check_active
    @step(args=["cmd"], result=True)
    def run(self, cmd, *, timeout=30, codec="utf-8", decodeerrors="strict"):
        return self._run(cmd, timeout=timeout)

    def _run(self, cmd, *, timeout=30, codec="utf-8", decodeerrors="strict"):
        try:
            out, status = self._shell.run(cmd, timeout=timeout)
        except ConsoleError as exc:
            raise ExecutionError(cmd) from exc
        return out.splitlines(), [], status

    def get_status(self):
        return 1 if self._shell else 0
