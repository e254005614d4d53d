# The bare-metal firmware's pieces that run anywhere: the host mirror that
# images/baremetal.py reuses for its private deb-src line, and the UART line
# editor of dmfw/platform/baremetal.py (no tty does line editing on a board).
import io

import pytest

from images import baremetal
from dmfw.platform.baremetal import LineReader


def test_host_mirror_one_line_and_deb822(tmp_path):
    one = tmp_path / "sources.list"
    one.write_text("# deb http://old.example/debian sid main\n"
                   "deb-src http://src.example/debian bookworm main\n"
                   "deb [arch=amd64 signed-by=/k.gpg] http://sec.example/debian-security "
                   "bookworm-security main\n"
                   "deb [ signed-by=/usr/share/keyrings/x.gpg ] http://m.example/debian "
                   "bookworm main contrib\n")
    assert baremetal.host_mirror([str(one)]) == ("http://m.example/debian",
                                                 "/usr/share/keyrings/x.gpg")
    d822 = tmp_path / "debian.sources"
    d822.write_text("Types: deb\n# a comment\nURIs: http://a.example/debian\n"
                    "Suites: bookworm-updates\nComponents: main\n\n"
                    "Types: deb deb-src\nURIs: http://b.example/debian\n"
                    "Suites: bookworm bookworm-updates\nComponents: main\n"
                    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
                    "Enabled: no\nTypes: deb\nURIs: http://c.example/debian\nSuites: sid\n"
                    "Components: main\n")
    assert baremetal.host_mirror([str(tmp_path / "missing.list"), str(d822)]) == (
        "http://b.example/debian", "/usr/share/keyrings/debian-archive-keyring.gpg")
    other = tmp_path / "other.list"
    other.write_text("deb http://x.example/node nodistro-x contrib\n")
    with pytest.raises(RuntimeError, match="no Debian mirror"):
        baremetal.host_mirror([str(other)])


def test_heap_sizes_checked():
    assert baremetal.check_heap(256 << 10) == 256 << 10
    for bad in (1000, 16 << 10, 64 << 20):
        with pytest.raises(ValueError):
            baremetal.check_heap(bad)


def _lines(typed):
    out = io.StringIO()
    r = LineReader(io.StringIO(typed), out)
    got = []
    while True:
        try:
            line = r.readline()
        except KeyboardInterrupt:
            got.append("^C")
            continue
        if not line:
            return got, out.getvalue()
        got.append(line)


def test_line_editor_keys():
    got, echo = _lines("ls\rabX\x7fc\x08d\r\necho wrong\x15echo right\nnever\x03x\x1b[Ay\r")
    assert got == ["ls\n", "abd\n", "echo right\n", "^C", "xy\n"]
    # what the terminal shows: each key echoed, erased by "\b \b"
    assert echo.startswith("ls\r\nabX\x08 \x08c\x08 \x08d\r\n")
    assert "echo wrong" + "\x08 \x08" * 10 + "echo right\r\n" in echo


def test_line_editor_end_of_input():
    assert _lines("abc\x04\x7f\x7f\x7f\x04")[0] == []
    assert _lines("abc")[0] == ["abc"]
