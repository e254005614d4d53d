"""labgrid's own QEMUDriver starts the bare-metal firmware (harness/labgrid/qemu_env.py
--bare-metal): DmfwStrategy brings up the shell on the UART and DmfwShellDriver runs
dmsetup over it, as on a board."""
import hashlib

import pytest

from harness.disks import pattern_bytes, pattern_disk
from harness.pytest_plugin import need_bare_metal

pytestmark = pytest.mark.baremetal


@pytest.fixture
def lg_board(tmp_path):
    need_bare_metal()
    pytest.importorskip("labgrid")
    from labgrid import Environment
    from harness.labgrid.qemu_env import environment_bare_metal
    from images import baremetal as image
    disk = pattern_disk(str(tmp_path / "lg.img"), 1 << 20, tag="lgbm")
    env_file = tmp_path / "bm.yaml"
    env_file.write_text(environment_bare_metal(image.ensure().elf, [disk]))
    target = Environment(str(env_file)).get_target("main")
    try:
        yield target
    finally:
        target.cleanup()


def test_labgrid_qemudriver_runs_the_bare_metal_firmware(lg_board):
    from labgrid.driver.exception import ExecutionError
    lg_board.get_driver("DmfwStrategy").transition("shell")
    shell = lg_board.get_driver("DmfwShellDriver")
    assert shell.run("echo hello") == (["hello"], [], 0)
    with pytest.raises(ExecutionError):
        shell.run_check("dmsetup table nosuchdevice")
    shell.run_check("dmsetup create lg --table '0 100 linear /dev/vda 8'")
    out = shell.run_check("sha256sum /dev/mapper/lg")
    want = hashlib.sha256(bytes(pattern_bytes(1 << 20, "lgbm")[8 * 512:108 * 512])).hexdigest()
    assert out == ["%s  /dev/mapper/lg" % want]
    assert shell.run_check("dmsetup table") == ["lg: 0 100 linear 254:0 8"]
