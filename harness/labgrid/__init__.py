"""labgrid support for the dmfw firmware shell: on a board's serial port or on
labgrid's QEMUDriver.  Importing this package registers the driver and strategy
(environment files list it under `imports:`)."""
from harness.labgrid.driver import DmfwShellDriver  # noqa: F401
from harness.labgrid.strategy import DmfwStrategy  # noqa: F401
