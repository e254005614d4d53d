# CPython only (tree.py imports it only there): the data level of a hash
# tree built or checked by several workers. Measured on the 2-core host,
# threads do not pay: hashlib drops the GIL only inside each 4 KiB update,
# and handing the GIL back and forth per block made two threads slower
# than one (about 1000 against 1450 MiB/s). Forked processes each have
# their own interpreter, so each worker takes a contiguous slice of the
# level's hash blocks, reads its data through its own file handles and
# writes (format) or compares (verify) its hash blocks itself; the parent
# does the first slice. Errors come back over a pipe and the one reported
# is the first in device order, as one worker would have found it.

import os

# Below this many hash blocks per worker the fork costs more than it saves.
MIN_PER_WORKER = 16


def _handle(dev, write):
    # A private handle: after fork the parent's file objects share their
    # seek position with the child. Only host files (and windows of them)
    # can be reopened; anything else keeps the single-worker path.
    from dmfw.blockdev import FileDevice, SliceDevice
    if isinstance(dev, SliceDevice):
        p = _handle(dev.parent, write)
        if p is None:
            return None
        return SliceDevice(p, dev.start, dev.nr_sectors, dev.name,
                           readonly=not write)
    if type(dev) is FileDevice:
        return FileDevice(dev.path, readonly=not write, name=dev.name)
    return None


def usable(workers, nblocks, devs):
    if workers < 2 or nblocks < MIN_PER_WORKER * 2 or not hasattr(os, "fork"):
        return False
    from dmfw.blockdev import FileDevice, SliceDevice
    for d in devs:
        while isinstance(d, SliceDevice):
            d = d.parent
        if type(d) is not FileDevice:
            return False
    return True


def _encode(e):
    from dmfw.verity.tree import VerifyFailed
    from dmfw.errors import DMError
    if isinstance(e, VerifyFailed):
        return "V\n" + "\n".join(e.lines)
    if isinstance(e, DMError):
        return "D%d\n%s\n%s" % (e.errno, type(e).__name__, e.msg)
    return "D5\nIOFailure\n%s" % (e,)


def _decode(s):
    from dmfw.verity.tree import VerifyFailed
    from dmfw import errors
    if s.startswith("V\n"):
        return VerifyFailed(s[2:].split("\n"))
    head, name, msg = s.split("\n", 2)
    errno = int(head[1:])
    cls = getattr(errors, name, None)
    if cls is errors.IOFailure or cls is errors.FormatError:
        return cls(msg, errno)
    return errors.DMError(errno, msg)


def run(work, ranges, devs):
    """Call work(j0, j1, devs') for each (j0, j1) in ranges: the first in
    this process, the others in forked children with private handles
    devs' on `devs` (list of (device, writable)). Raises the error of the
    first range that failed; no child outlives the call."""
    kids = []
    try:
        for j0, j1 in ranges[1:]:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                _child(work, j0, j1, devs, r, w)
            os.close(w)
            kids.append((pid, r))
        first = None
        try:
            work(ranges[0][0], ranges[0][1], [d for d, _ in devs])
        except Exception as e:
            first = e
        if first is not None:
            raise first
        for i in range(len(kids)):
            pid, r = kids[i]
            msg = _collect(pid, r)
            kids[i] = None
            if msg is not None:
                raise _decode(msg)
    finally:
        # On an error (or ^C) the later slices are of no use: stop them.
        for k in kids:
            if k is not None:
                try:
                    os.kill(k[0], 9)
                except OSError:
                    pass
                _collect(k[0], k[1])


def _collect(pid, r):
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and not text:
        return None
    if not text:
        # Killed (by the OOM killer, or by us after an earlier failure:
        # then the caller ignores this) or an exit without a word.
        text = "D5\nIOFailure\nverity worker %d died (status %d)" % (pid, status)
    return text


def _child(work, j0, j1, devs, r, w):
    # Never returns: os._exit skips the parent's atexit handlers and the
    # flush of stdio buffers it inherited.
    code = 1
    try:
        os.close(r)
        try:
            work(j0, j1, [_handle(d, wr) for d, wr in devs])
            code = 0
        except BaseException as e:
            os.write(w, _encode(e).encode("utf-8", "replace"))
    finally:
        os._exit(code)


def split(nblocks, workers):
    n = min(workers, nblocks // MIN_PER_WORKER)
    cuts = [nblocks * i // n for i in range(n + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(n)]
