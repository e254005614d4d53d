"""DmfwStrategy: off -> shell for a dmfw target (labgrid's ShellStrategy expects a
Linux login and systemd; the firmware shell has neither)."""
import enum
import threading

import attr
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.strategy.common import Strategy, StrategyError, never_retry


class Status(enum.Enum):
    unknown = 0
    off = 1
    shell = 2


@target_factory.reg_driver
@attr.s(eq=False)
class DmfwStrategy(Strategy):
    """Power on (QEMUDriver, a power switch, or none for a board that is already up),
    then wait for the dmfw shell.

    Args:
        power_timeout (int): seconds for power.on(); QEMUDriver.on() never returns
            when QEMU fails to start, so it runs in a thread with this deadline
    """
    bindings = {
        "power": {"PowerProtocol", None},
        "console": "ConsoleProtocol",
        "shell": "DmfwShellDriver",
    }
    status = attr.ib(default=Status.unknown)
    power_timeout = attr.ib(default=60, validator=attr.validators.instance_of(int))

    @never_retry
    @step(args=["status"])
    def transition(self, status, *, step):  # pylint: disable=redefined-outer-name
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError("can not transition to unknown")
        if status == self.status:
            step.skip("nothing to do")
            return
        if status == Status.off:
            self.target.deactivate(self.shell)
            if self.power:
                self.target.activate(self.power)
                self.power.off()
        elif status == Status.shell:
            if self.power:
                self.target.activate(self.power)
                self._power_on()
            self.target.activate(self.console)
            self.target.activate(self.shell)
        self.status = status

    def _power_on(self):
        failure = []

        def on():
            try:
                self.power.on()
            except Exception as exc:  # reported below, in the caller's thread
                failure.append(exc)

        worker = threading.Thread(target=on, daemon=True)
        worker.start()
        worker.join(self.power_timeout)
        if worker.is_alive():
            raise StrategyError("power on did not finish in %ds (QEMU failed to start?)"
                                % self.power_timeout)
        if failure:
            raise StrategyError("power on failed: %s" % failure[0])
