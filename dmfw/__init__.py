"""dmfw: a Linux-compatible device mapper for firmware (MicroPython and CPython)."""

VERSION = "0.1.0"
