"""What the benchmark modules share: the checkout root, best-of-n timing, dd's."""
import os
import re
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHUNK = 1 << 20


def best(fn, n):
    """(fastest wall time of n calls, last result): the run least disturbed
    by whatever else the machine was doing."""
    t = None
    r = None
    for _ in range(n):
        t0 = time.perf_counter()
        r = fn()
        dt = time.perf_counter() - t0
        t = dt if t is None or dt < t else t
    return t, r


def dd_seconds(out):
    """The seconds dd reports ("... copied, 1.23 s, ...")."""
    m = re.search(r"copied, ([0-9.]+) s", out)
    if not m:
        raise RuntimeError("no timing in dd output:\n" + out)
    return float(m.group(1))
