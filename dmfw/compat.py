# The few places where MicroPython and CPython differ, in one module.

import sys
import time

try:
    _ticks = time.ticks_ms
    _diff = time.ticks_diff

    def ticks_ms():
        return _ticks()

    def elapsed_ms(t0):
        return _diff(_ticks(), t0)
except AttributeError:
    def ticks_ms():
        return int(time.monotonic() * 1000)

    def elapsed_ms(t0):
        return ticks_ms() - t0


def ticks_us():
    try:
        return time.ticks_us()
    except AttributeError:
        return int(time.monotonic() * 1000000)


def elapsed_us(t0):
    try:
        return time.ticks_diff(time.ticks_us(), t0)
    except AttributeError:
        return ticks_us() - t0


def is_micropython():
    import sys
    return sys.implementation.name == "micropython"


def isatty(f):
    try:
        return f.isatty()
    except (AttributeError, OSError):
        return False


def read_secret_line(f):
    """A line from `f` with the terminal's echo off where termios exists
    (CPython, MicroPython unix with the module); the newline is dropped.
    None at end of input."""
    old = None
    try:
        import termios
        fd = f.fileno()
        old = termios.tcgetattr(fd)
        new = list(old)
        new[3] = new[3] & ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, new)
    except (ImportError, AttributeError, OSError, ValueError):
        old = None
    try:
        line = f.readline()
    finally:
        if old is not None:
            termios.tcsetattr(fd, termios.TCSANOW, old)
            sys.stderr.write("\n")
    if not line:
        return None
    return line[:-1] if line[-1:] in ("\n", b"\n") else line


def listdir(path):
    import os
    try:
        return os.listdir(path)
    except OSError:
        return []


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def makedirs(path):
    """os.makedirs(path, exist_ok=True), which MicroPython's os lacks."""
    import os
    cur = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        cur += part
        try:
            os.mkdir(cur)
        except OSError:
            pass
        cur += "/"
