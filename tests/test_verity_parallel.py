# veritysetup format/verify with the data level (and FEC rounds) split over
# forked workers (dmfw/verity/parallel.py, CPython): the same bytes and the
# same first error as one worker, no worker left behind, --threads refused
# like cryptsetup refuses a bad number.

import os
import subprocess

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from dmfw.blockdev import FileDevice
from dmfw.errors import IOFailure
from dmfw.verity import parallel, tree
from shellrun import run

iv = pytest.importorskip("images.verity")


def _children():
    # This process's children as the kernel lists them (reaped ones are gone,
    # zombies are still there).
    out = set()
    for t in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/children" % t) as f:
                out |= set(f.read().split())
        except OSError:
            pass
    return out


_BEFORE = set()


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    # Images of a few hash blocks still split over every worker.
    monkeypatch.setattr(parallel, "MIN_PER_WORKER", 1)
    # In the whole suite this process has other children (the session's guest
    # QEMU): only workers started during the test count.
    _BEFORE.clear()
    _BEFORE.update(_children())


def no_children():
    return not (_children() - _BEFORE)


def _image(d, nblocks, dbs, seed, extra=0):
    data = bytearray()
    k = 0
    while len(data) < nblocks * dbs:
        data += (b"%d-%d|" % (seed, k)) * 97
        k += 1
    del data[nblocks * dbs:]
    p = os.path.join(d, "data.img")
    with open(p, "wb") as f:
        f.write(data + bytes(extra))
    return p


def _geo(version, dbs, hbs, nblocks, alg, salt, hash_start=0):
    return tree.Geometry(version, dbs, hbs, nblocks, hash_start, alg, salt)


def _build(tmp, geo, data, workers, same_file):
    if same_file:
        hashp = data
    else:
        hashp = os.path.join(tmp, "hash-%d.img" % workers)
        with open(hashp, "wb") as f:
            f.truncate(geo.hash_end * geo.hash_bs)
    d = FileDevice(data, readonly=True)
    h = FileDevice(hashp)
    try:
        root = tree.build(geo, d, h, workers=workers)
    finally:
        d.close()
        h.close()
    with open(hashp, "rb") as f:
        f.seek(geo.hash_start * geo.hash_bs)
        return root, f.read()


def _verify(geo, data, hashp, root, workers):
    d = FileDevice(data, readonly=True)
    h = FileDevice(hashp, readonly=True)
    try:
        tree.verify(geo, d, h, root, workers=workers)
        return None
    except tree.VerifyFailed as e:
        return e.lines
    finally:
        d.close()
        h.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(nblocks=st.integers(1, 700), bs=st.sampled_from([(512, 512), (1024, 512), (4096, 4096),
                                                        (512, 4096)]),
       version=st.integers(0, 1), alg=st.sampled_from(["sha1", "sha256", "sha512"]),
       salt=st.binary(max_size=40), workers=st.integers(2, 4), same_file=st.booleans(),
       bad=st.lists(st.integers(0, 10 ** 6), max_size=3))
def test_workers_build_and_verify_like_one(tmp_path_factory, nblocks, bs, version, alg,
                                           salt, workers, same_file, bad):
    # Odd block counts (a short last hash block), data not a multiple of
    # a worker's slice, the tree in the data file after the data (hash
    # offset) or in its own file, salted or not, v0/v1: the same tree and
    # root as one worker, and damage found at the same first place.
    tmp = str(tmp_path_factory.mktemp("par"))
    dbs, hbs = bs
    data = _image(tmp, nblocks, dbs, len(salt), extra=0)
    start = (nblocks * dbs + hbs - 1) // hbs if same_file else 0
    if same_file and (nblocks * dbs) % hbs:
        # The hash area starts on a hash block of the data file.
        with open(data, "ab") as f:
            f.write(bytes(start * hbs - nblocks * dbs))
    geo = _geo(version, dbs, hbs, nblocks, alg, salt, start)
    if same_file:
        with open(data, "r+b") as f:
            f.truncate(geo.hash_end * hbs)
    root1, tree1 = _build(tmp, geo, data, 1, same_file)
    rootn, treen = _build(tmp, geo, data, workers, same_file)
    assert (rootn, treen) == (root1, tree1)
    hashp = data if same_file else os.path.join(tmp, "hash-1.img")
    assert _verify(geo, data, hashp, root1, workers) is None
    for b in bad:
        with open(data, "r+b") as f:
            f.seek((b % nblocks) * dbs + b % dbs)
            c = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([c[0] ^ 0x40]))
    if bad:
        assert _verify(geo, data, hashp, root1, workers) == \
            _verify(geo, data, hashp, root1, 1)
    assert no_children()


def _ref_image(tmp_path, nblocks=600):
    # 600 4 KiB blocks: five level-0 hash blocks, so three workers split.
    data = _image(str(tmp_path), nblocks, 4096, 7)
    hashp = str(tmp_path / "hash.img")
    out = subprocess.run(["veritysetup", "format", data, hashp, "--salt", "ab" * 32,
                          "--uuid", "12345678-1234-4234-8234-123456789abc"],
                         capture_output=True, text=True, check=True).stdout
    return data, hashp, iv.dump_fields(out)["Root hash"]


needs_tools = pytest.mark.skipif(iv.missing_tools() != [], reason="needs veritysetup")


@needs_tools
@pytest.mark.parametrize("blocks", [(590,), (10, 590), (300, 10), (599,), (130, 129)])
def test_corrupt_blocks_reported_like_cryptsetup(tmp_path, blocks):
    # The first bad block in device order is named, whichever worker
    # found it, with veritysetup's message and exit code.
    data, hashp, root = _ref_image(tmp_path)
    for b in blocks:
        with open(data, "r+b") as f:
            f.seek(b * 4096 + 17)
            f.write(b"\x00\xff\x00")
    ref = subprocess.run(["veritysetup", "verify", data, hashp, root],
                         capture_output=True, text=True)
    assert ref.returncode == 2
    for t in (1, 2, 3):
        r = run("veritysetup verify %s %s %s --threads %d" % (data, hashp, root, t))
        assert (r.status, r.err) == (ref.returncode, ref.stderr), t
        assert "position %d." % (min(blocks) * 4096) in r.err
        assert no_children()


@needs_tools
@pytest.mark.parametrize("action", ["verify", "format"])
@pytest.mark.parametrize("bad_sector", [8 * 5, 8 * 300, 8 * 599])
def test_io_error_in_a_worker_is_one_workers_error(tmp_path, monkeypatch, action,
                                                   bad_sector):
    # A read error on the data file (in the first, a middle or the last
    # slice): the message and exit code one worker gives, and no worker
    # left running. Forked workers inherit the patched read.
    data, hashp, root = _ref_image(tmp_path)
    real = FileDevice._read

    def failing(self, sector, mv):
        if self.path == data and sector <= bad_sector < sector + (len(mv) >> 9):
            raise IOFailure("%s: I/O error reading sector %d: Input/output error"
                            % (self.name, bad_sector))
        return real(self, sector, mv)
    monkeypatch.setattr(FileDevice, "_read", failing)
    cmd = "veritysetup %s %s %s %s --threads %%d" % (
        action, data, hashp, root if action == "verify" else "--salt 00")
    got = []
    for t in (1, 2, 3):
        got.append(run(cmd % t))
        assert no_children()
    assert got[0].status != 0 and "sector %d" % bad_sector in got[0].err
    assert [(r.status, r.err) for r in got[1:]] == [(got[0].status, got[0].err)] * 2


def test_a_dead_worker_is_an_error_not_success(tmp_path, monkeypatch):
    # A worker killed under us (the OOM killer) must not pass for one
    # that checked its slice.
    data = _image(str(tmp_path), 600, 4096, 3)
    geo = _geo(1, 4096, 4096, 600, "sha256", b"s")
    root, _ = _build(str(tmp_path), geo, data, 1, False)
    hashp = str(tmp_path / "hash-1.img")
    real = tree._check_range

    def dying(geo, lvl, src, src_off, src_bs, n, hash_dev, j0, j1):
        if j0 > 0:
            os.kill(os.getpid(), 9)
        return real(geo, lvl, src, src_off, src_bs, n, hash_dev, j0, j1)
    monkeypatch.setattr(tree, "_check_range", dying)
    with pytest.raises(IOFailure) as e:
        tree.verify(geo, FileDevice(data, readonly=True), FileDevice(hashp, readonly=True),
                    root, workers=2)
    assert "worker" in str(e.value) and "died" in str(e.value)
    assert no_children()


@pytest.mark.parametrize("value,msg", [("0", "Invalid number of threads."),
                                       ("257", "Invalid number of threads."),
                                       ("two", "veritysetup: invalid numeric value"),
                                       ("-1", "veritysetup: invalid numeric value"),
                                       ("", "veritysetup: invalid numeric value")])
@pytest.mark.parametrize("action", ["format", "verify"])
def test_threads_refused(tmp_path, value, msg, action):
    data = _image(str(tmp_path), 8, 4096, 1)
    hashp = tmp_path / "hash.img"
    r = run("veritysetup %s %s %s %s--threads=%s" % (
        action, data, hashp, "00" * 32 + " " if action == "verify" else "", value))
    assert (r.status, r.err) == (1, msg + "\n")
    assert not hashp.exists()      # nothing created or written


def test_help_names_threads():
    r = run("veritysetup --help")
    assert "--threads=number" in r.out
