"""The host half of the guest harness, without QEMU: console framing over a local
shell, the cpio writer against cpio(1), the overlay, the recipe hash, pattern disks."""
import hashlib
import io
import os
import shutil
import subprocess
import time

import pexpect
import pytest

from harness.console import Console, ConsoleError
from harness.disks import pattern_bytes
from images import guest as image
from images.cpio import CpioWriter
from images.overlay import overlay_bytes


@pytest.fixture
def shell():
    # An interactive sh on a pty echoes what it is sent, like the firmware console.
    child = pexpect.spawn("sh", ["-i"], encoding="utf-8",
                          env={"PS1": "$ ", "PATH": os.environ["PATH"]})
    try:
        yield Console(child)
    finally:
        child.close(force=True)


def test_console_output_and_status_despite_echo(shell):
    assert shell.run("echo hello; echo world") == ("hello\nworld\n", 0)
    assert shell.run("false")[1] == 1
    assert shell.run("(exit 7)")[1] == 7
    assert shell.run("true") == ("", 0)


def test_console_interrupt_recovers(shell):
    start = time.monotonic()
    with pytest.raises(ConsoleError):
        shell.run("sleep 30", timeout=1)
    assert shell.run("echo back") == ("back\n", 0)
    assert time.monotonic() - start < 15, "the sleep was waited out, not interrupted"


@pytest.mark.skipif(not shutil.which("cpio"), reason="needs cpio(1)")
def test_cpio_archive_reads_back_with_cpio(tmp_path):
    buf = io.BytesIO()
    w = CpioWriter(buf)
    w.file("a/b/c.txt", b"hello\n", 0o640)
    w.symlink("bin/sh", "busybox")
    w.file("odd", b"x" * 3)  # data that needs padding
    w.close()
    assert len(buf.getvalue()) % 4 == 0
    listing = subprocess.run(["cpio", "-it"], input=buf.getvalue(),
                             capture_output=True).stdout.decode()
    assert listing.split() == ["a", "a/b", "a/b/c.txt", "bin", "bin/sh", "odd"]
    subprocess.run(["cpio", "-idm", "--quiet"], input=buf.getvalue(), cwd=tmp_path, check=True)
    assert (tmp_path / "a/b/c.txt").read_bytes() == b"hello\n"
    assert oct((tmp_path / "a/b/c.txt").stat().st_mode & 0o777) == oct(0o640)
    assert os.readlink(tmp_path / "bin/sh") == "busybox"
    assert (tmp_path / "odd").read_bytes() == b"xxx"


@pytest.mark.skipif(not shutil.which("cpio"), reason="needs cpio(1)")
def test_overlay_carries_init_and_the_dmfw_package(tmp_path):
    subprocess.run(["cpio", "-idm", "--quiet"], input=overlay_bytes(["dm_mod", "loop"]),
                   cwd=tmp_path, check=True)
    assert os.access(tmp_path / "init", os.X_OK)
    assert (tmp_path / "etc/dmfw-modules").read_text().split() == ["dm_mod", "loop"]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in ("__init__.py", "__main__.py", "shell/__init__.py"):
        with open(os.path.join(here, "dmfw", name), "rb") as f:
            assert (tmp_path / "usr/lib/dmfw-py/dmfw" / name).read_bytes() == f.read()
    assert not list(tmp_path.rglob("__pycache__"))


def test_recipe_hash_follows_the_recipe(monkeypatch):
    before = image.recipe_hash()
    assert image.recipe_hash() == before
    monkeypatch.setattr(image, "MODULES", image.MODULES + ["dm_cache"])
    assert image.recipe_hash() != before
    monkeypatch.setattr(image, "MODULES", image.MODULES[:-1])
    assert image.recipe_hash() == before


def test_pattern_disks_are_distinct_per_sector_and_tag():
    a = pattern_bytes(64 * 512, "a")
    assert a == pattern_bytes(64 * 512, "a")
    assert a[512:512 + 27] == b"dmfw disk a    sector 1    "
    sectors = {hashlib.sha256(a[i:i + 512]).digest() for i in range(0, len(a), 512)}
    assert len(sectors) == 64
    assert pattern_bytes(64 * 512, "b")[512:] != a[512:]
