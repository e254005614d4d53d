# The firmware shell: quoting, statuses, and the coreutils-like builtins
# checked against Python's own hashlib/formatting of the same bytes.

import hashlib
import subprocess

import pytest

from shellrun import run, new_shell, run_cpython
from dmfw.shell.parse import split_commands
from dmfw.errors import UsageError


@pytest.mark.parametrize("line,expect", [
    ("a b  c", [["a", "b", "c"]]),
    ("a 'b c' \"d e\"", [["a", "b c", "d e"]]),
    ("a\\ b c\\'d", [["a b", "c'd"]]),
    ("a; b ;c", [["a"], ["b"], ["c"]]),
    ("a # comment ; b", [["a"]]),
    ("a#b", [["a#b"]]),
    ("x $'1\\n2\\t\\x41'", [["x", "1\n2\tA"]]),
    ("x \"a\\\"b\" 'c\"d'", [["x", 'a"b', 'c"d']]),
    ("", []),
])
def test_split(line, expect):
    assert [c[0] for c in split_commands(line)] == expect


def test_redirect_and_errors():
    assert split_commands("cat < f; x") == [(["cat"], "f"), (["x"], None)]
    for bad in ("a 'b", 'a "b', "a <", "a < ; b"):
        with pytest.raises(UsageError):
            split_commands(bad)


def test_status_and_exit_codes():
    r = run("false; echo $?; true; echo $?; nosuch; echo $?")
    assert r.out == "1\n0\n127\n"
    assert "nosuch: command not found" in r.err
    # The shell's exit status is that of the last failing command.
    p = run_cpython("false; true")
    assert p.returncode if hasattr(p, "returncode") else p.status == 1
    assert run_cpython("true").status == 0
    assert run_cpython("exit 3; echo no").status == 3


def test_checksums_match_hashlib(disks):
    sh = new_shell(disks["specs"])
    data = disks["data"]["/dev/vda"]
    r = run("sha256sum /dev/vda; md5sum /dev/vdb; sha1sum /dev/vda 10 3", sh=sh)
    assert r.out == (
        "%s  /dev/vda\n" % hashlib.sha256(data).hexdigest() +
        "%s  /dev/vdb\n" % hashlib.md5(disks["data"]["/dev/vdb"]).hexdigest() +
        "%s  /dev/vda\n" % hashlib.sha1(data[10 * 512:13 * 512]).hexdigest())


def test_dd_copies_between_devices(disks):
    sh = new_shell(disks["specs"])
    r = run("dmsetup create s --table '0 1024 striped 2 16 /dev/vdb 0 /dev/vdb 2048'; "
            "dd if=/dev/vda of=/dev/mapper/s bs=4k skip=3 seek=1 count=10", sh=sh)
    assert r.status == 0, r
    assert "10+0 records in\n10+0 records out\n40960 bytes (41 kB, 40 KiB) copied" in r.err
    src = disks["data"]["/dev/vda"][3 * 4096:13 * 4096]
    r = run("sha256sum /dev/mapper/s 8 80", sh=sh)
    assert r.out.split()[0] == hashlib.sha256(src).hexdigest()
    r = run("cmp /dev/vda /dev/vda; echo $?", sh=sh)
    assert r.out == "0\n"
    r = run("cmp /dev/vda /dev/vdb", sh=sh)
    assert r.status == 1 and r.out.startswith("/dev/vda /dev/vdb differ: byte 1, line 1")


def test_hexdump_canonical(disks):
    sh = new_shell(disks["specs"])
    # util-linux hexdump on the same bytes is the reference.
    for args in ("-s 100 -n 77", "-n 4096", "-s 1000 -n 33"):
        ref = subprocess.run(["hexdump", "-C"] + args.split() + [disks["paths"]["/dev/vda"]],
                             capture_output=True, text=True, check=True).stdout
        assert run("hexdump -C %s /dev/vda" % args, sh=sh).out == ref
    run("dmsetup create z --table '0 8 zero'", sh=sh)
    assert run("hexdump -C /dev/mapper/z", sh=sh).out == (
        "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n"
        "*\n00001000\n")


def test_blockdev_and_ls(disks):
    sh = new_shell(disks["specs"])
    run("dmsetup create -r m --table '0 24 linear /dev/vdb 0'", sh=sh)
    r = run("blockdev --getsz --getss --getsize64 --getro /dev/mapper/m", sh=sh)
    assert r.out == "24\n512\n12288\n1\n"
    assert run("ls /dev", sh=sh).out == "dm-0\nmapper\nvda\nvdb\n"
    assert run("ls /dev/mapper", sh=sh).out == "control\nm\n"


def test_time_and_help():
    r = run("time true")
    assert r.status == 0 and r.err.startswith("real\t")
    assert "dmsetup" in run("help").out


def test_selftest_passes():
    r = run("selftest")
    assert r.status == 0 and r.out.endswith("0 failed\n"), r
