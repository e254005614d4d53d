import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import pytest  # noqa: E402


@pytest.fixture
def disks(tmp_path):
    """Two pattern disks attached as /dev/vda (8 MiB) and /dev/vdb (4 MiB)."""
    from harness.disks import pattern_disk
    a = tmp_path / "a.img"
    b = tmp_path / "b.img"
    da = (tmp_path / pattern_disk(str(a), 8 << 20, seed=1)).read_bytes()
    db = (tmp_path / pattern_disk(str(b), 4 << 20, seed=2)).read_bytes()
    return {"specs": [("/dev/vda", str(a)), ("/dev/vdb", str(b))],
            "data": {"/dev/vda": da, "/dev/vdb": db},
            "paths": {"/dev/vda": str(a), "/dev/vdb": str(b)}}
