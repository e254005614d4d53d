"""What the benchmark modules share: the checkout root and best-of-n timing."""
import os
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
