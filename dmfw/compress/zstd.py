# Zstandard decoder (RFC 8878) in plain Python for the firmware: squashfs zstd
# blocks (one frame each, checked against mksquashfs -comp zstd) and files made by
# the zstd CLI (several frames, skippable frames). decompress(data, max_out) returns
# a bytearray of at most max_out bytes; anything wrong with the input (truncation,
# reserved bits, bad tables, offsets before the output, more than max_out or than
# the frame header says, checksum mismatch) is a CorruptData.
#
# Memory: the output buffer (never larger than max_out: exactly the frame content
# size when the header states it, else grown one block at a time), one block's
# literals (<= 128 KiB) and the entropy tables (<= 2048 Huffman entries, 3 x <= 512
# FSE states); the input is read in place. Matches are copied inside the output
# buffer, so the window costs nothing; a window larger than max(WINDOW_MAX, max_out)
# is still refused, as `zstd -d` refuses windows past 128 MiB unless told otherwise.
# Frames needing a dictionary are refused (no file system we read uses them). The
# content checksum (XXH64) is verified when the frame has one.
#
# Speed: the literals and sequence loops keep their bit reader in locals (an integer
# of at most 62 bits on MicroPython, a small int; 126 bits on CPython, where fewer
# refills win) and refill it several bytes at a time; a sequence-table state is one
# tuple holding its field's baseline and extra bits, so a sequence costs three tuple
# unpacks and a handful of shifts. On CPython a block with many literals also gets a
# multi-symbol Huffman table (2048 entries, about 150 KiB, freed with the frame).

from dmfw.compress import CorruptData
from dmfw.compress import zstd_entropy as E

MAGIC = 0xFD2FB528
WINDOW_MAX = 1 << 27
BLOCK_MAX = 1 << 17

FILL = E.FILL


def _bad(why):
    return CorruptData("zstd", why)


def decompress(data, max_out):
    """Decode every frame of `data` (skipping skippable frames) into at most
    `max_out` bytes."""
    n = len(data)
    if n == 0:
        raise _bad("no frame")
    out = bytearray()
    op = 0
    pos = 0
    while pos < n:
        if pos + 4 > n:
            raise _bad("truncated frame magic")
        magic = int.from_bytes(data[pos:pos + 4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:
            if pos + 8 > n:
                raise _bad("truncated skippable frame")
            size = int.from_bytes(data[pos + 4:pos + 8], "little")
            pos += 8 + size
            if pos > n:
                raise _bad("truncated skippable frame")
            continue
        if magic != MAGIC:
            raise _bad("bad magic %08x" % magic)
        pos, op = _frame(data, pos + 4, out, op, max_out)
    if len(out) > op:
        out[op:] = b""
    return out


def _grow(out, need):
    # Unknown content size: the buffer grows as blocks arrive, to at most max_out.
    if len(out) < need:
        out.extend(bytes(need - len(out)))


def _frame(data, pos, out, op, max_out):
    n = len(data)
    if pos >= n:
        raise _bad("truncated frame header")
    fhd = data[pos]
    pos += 1
    if fhd & 8:
        raise _bad("reserved frame header bit set")
    single = fhd & 0x20
    dsize = (0, 1, 2, 4)[fhd & 3]
    fsize = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    if pos + (0 if single else 1) + dsize + fsize > n:
        raise _bad("truncated frame header")
    wsize = 0
    if not single:
        wd = data[pos]
        pos += 1
        wlog = 10 + (wd >> 3)
        wsize = (1 << wlog) + ((1 << wlog) >> 3) * (wd & 7)
    if dsize:
        did = int.from_bytes(data[pos:pos + dsize], "little")
        pos += dsize
        if did:
            raise _bad("frame needs dictionary %d (dictionaries are not supported)" % did)
    fcs = -1
    if fsize:
        fcs = int.from_bytes(data[pos:pos + fsize], "little")
        pos += fsize
        if fsize == 2:
            fcs += 256
    if single:
        wsize = fcs
    if wsize > WINDOW_MAX and wsize > max_out:
        raise _bad("window of %d bytes is too large" % wsize)
    avail = max_out - op
    if fcs > avail:
        raise _bad("frame content size %d exceeds the %d bytes allowed" % (fcs, avail))
    # No block inflates more than 32768 times (a 4-byte RLE block makes 128 KiB): a
    # larger content size is a lie, refused before the output buffer is allocated.
    if fcs > (n - pos) << 15:
        raise _bad("frame content size %d is impossible for %d bytes" % (fcs, n - pos))
    fstart = op
    limit = op + (fcs if fcs >= 0 else avail)
    bm = wsize if wsize < BLOCK_MAX else BLOCK_MAX
    if fcs >= 0:
        _grow(out, limit)
    # Per-frame decoder state: Huffman table, its max bits, the three sequence tables,
    # the repeat offsets, the multi-symbol Huffman table (built when first needed).
    st = [None, 0, None, None, None, 1, 4, 8, None]
    mv = memoryview(data)
    while True:
        if pos + 3 > n:
            raise _bad("truncated block header")
        bh = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
        pos += 3
        btype = (bh >> 1) & 3
        bsize = bh >> 3
        if btype == 3:
            raise _bad("reserved block type")
        if bsize > bm:
            raise _bad("block of %d bytes exceeds the maximum %d" % (bsize, bm))
        if btype == 1:
            if pos >= n:
                raise _bad("truncated RLE block")
            if op + bsize > limit:
                raise _bad("output exceeds %d bytes" % (limit - fstart))
            _grow(out, op + bsize)
            out[op:op + bsize] = bytes((data[pos],)) * bsize
            op += bsize
            pos += 1
        else:
            if pos + bsize > n:
                raise _bad("truncated block")
            if btype == 0:
                if op + bsize > limit:
                    raise _bad("output exceeds %d bytes" % (limit - fstart))
                _grow(out, op + bsize)
                out[op:op + bsize] = mv[pos:pos + bsize]
                op += bsize
            else:
                blim = op + bm if op + bm < limit else limit
                # Grow one block at a time: never past max_out, and no doubling that
                # would hold twice the output on a small heap.
                _grow(out, blim)
                try:
                    op = _block(mv[pos:pos + bsize], out, op, blim, fstart, wsize, st)
                except (IndexError, ValueError):
                    # A table index or shift a corrupt stream drove out of range.
                    raise _bad("corrupt compressed block")
            pos += bsize
        if bh & 1:
            break
    if fcs >= 0 and op - fstart != fcs:
        raise _bad("frame has %d bytes, its header says %d" % (op - fstart, fcs))
    if fhd & 4:
        if pos + 4 > n:
            raise _bad("truncated content checksum")
        want = int.from_bytes(data[pos:pos + 4], "little")
        pos += 4
        got = E.xxh64(memoryview(out)[fstart:op]) & 0xFFFFFFFF
        if got != want:
            raise _bad("content checksum %08x, expected %08x" % (got, want))
    return pos, op


_fill = E.fill
_bits_start = E.bits_start


def _huf_stream(s, t, mb, lit, o, end, mt):
    """Decode Huffman symbols from stream s into lit[o:end]; mt is the multi-symbol
    table (or None), used while enough symbols are left that it cannot overshoot."""
    acc, bc, p = _bits_start(s, "literals")
    mask = (1 << mb) - 1
    two = 2 * mb
    if mt is not None:
        mt, maxc = mt
        stop = end - 2 * maxc
        if o <= stop:
            parts = []
            ap = parts.append
            o0 = o
            while o <= stop:
                if bc < two:
                    k = (FILL - bc) >> 3
                    if p >= k:
                        p -= k
                        acc = (((acc & ((1 << bc) - 1)) << (k << 3)) |
                               int.from_bytes(s[p:p + k], "little"))
                        bc += k << 3
                    else:
                        acc, bc, p = _fill(s, p, acc, bc)
                sy, n, c = mt[(acc >> (bc - mb)) & mask]
                bc -= n
                ap(sy)
                sy, n, c2 = mt[(acc >> (bc - mb)) & mask]
                bc -= n
                ap(sy)
                o += c + c2
            lit[o0:o] = b"".join(parts)
    last = end - 1
    while o < last:
        # Two symbols per refill check.
        if bc < two:
            k = (FILL - bc) >> 3
            if p >= k:
                p -= k
                acc = ((acc & ((1 << bc) - 1)) << (k << 3)) | int.from_bytes(s[p:p + k], "little")
                bc += k << 3
            else:
                acc, bc, p = _fill(s, p, acc, bc)
        e = t[(acc >> (bc - mb)) & mask]
        bc -= e & 15
        lit[o] = e >> 4
        e = t[(acc >> (bc - mb)) & mask]
        bc -= e & 15
        lit[o + 1] = e >> 4
        o += 2
    if o < end:
        if bc < mb:
            acc, bc, p = _fill(s, p, acc, bc)
        e = t[(acc >> (bc - mb)) & mask]
        bc -= e & 15
        lit[o] = e >> 4
    if bc + 8 * p != 0:
        raise _bad("literals: Huffman stream not consumed exactly")


def _literals(b, st, bm):
    """Literals section at the start of block b: (literals, position after)."""
    n = len(b)
    h = b[0]
    lt = h & 3
    sf = (h >> 2) & 3
    if lt < 2:
        if sf & 1 == 0:
            size = h >> 3
            p = 1
        elif sf == 1:
            size = (h >> 4) | b[1] << 4
            p = 2
        else:
            size = (h >> 4) | b[1] << 4 | b[2] << 12
            p = 3
        if size > bm:
            raise _bad("literals: %d bytes exceed the block maximum" % size)
        if lt == 0:
            if p + size > n:
                raise _bad("literals: truncated raw literals")
            return b[p:p + size], p + size
        if p >= n:
            raise _bad("literals: truncated RLE literals")
        return bytes((b[p],)) * size, p + 1
    if sf < 2:
        hs, nbits = 3, 10
    elif sf == 2:
        hs, nbits = 4, 14
    else:
        hs, nbits = 5, 18
    if hs > n:
        raise _bad("literals: truncated header")
    v = int.from_bytes(b[0:hs], "little") >> 4
    m = (1 << nbits) - 1
    size = v & m
    csize = (v >> nbits) & m
    if size > bm:
        raise _bad("literals: %d bytes exceed the block maximum" % size)
    end = hs + csize
    if end > n:
        raise _bad("literals: truncated compressed literals")
    p = hs
    if lt == 2:
        t, mb, p = E.huf_table(b, p, end)
        st[0] = t
        st[1] = mb
        st[8] = None
    else:
        t = st[0]
        mb = st[1]
        if t is None:
            raise _bad("literals: treeless literals without a previous Huffman table")
    # On CPython the multi-symbol table costs about as much to build as decoding
    # 1 << mb symbols one at a time, and decodes twice as fast: worth it for many
    # literals. On MicroPython it gains nothing and costs ~150 KiB of heap.
    mt = st[8]
    if mt is None and size >= 4 << mb and not E.MICROPYTHON:
        mt = st[8] = E.huf_multi(t, mb)
    lit = bytearray(size)
    if sf == 0:
        _huf_stream(b[p:end], t, mb, lit, 0, size, mt)
        return lit, end
    if p + 6 > end:
        raise _bad("literals: truncated jump table")
    s1 = b[p] | b[p + 1] << 8
    s2 = b[p + 2] | b[p + 3] << 8
    s3 = b[p + 4] | b[p + 5] << 8
    p += 6
    seg = (size + 3) >> 2
    if p + s1 + s2 + s3 > end or size < 3 * seg:
        raise _bad("literals: bad jump table")
    o = 0
    for k in (s1, s2, s3, end - p - s1 - s2 - s3):
        oe = o + seg if o + seg < size else size
        _huf_stream(b[p:p + k], t, mb, lit, o, oe, mt)
        p += k
        o = oe
    return lit, end


def _seq_table(b, p, mode, kind, prev):
    """One sequence field's table for its compression mode: (table, position after)."""
    if mode == 0:
        return E.predefined(kind), p
    if mode == 1:
        if p >= len(b):
            raise _bad("sequences: truncated RLE symbol")
        return E.rle_table(b[p], kind), p + 1
    if mode == 2:
        _codes, maxlog, maxsym, _d = E.KINDS[kind]
        probs, al, p = E.read_ncount(b, p, len(b), maxlog, maxsym, kind)
        return E.seq_table(probs, al, kind), p
    if prev is None:
        raise _bad("sequences: repeated %s table without a previous one" % kind)
    return prev, p


def _block(b, out, op, limit, fstart, wsize, st):
    """Decode the compressed block b into out[op:] (at most up to limit): new op."""
    lit, p = _literals(b, st, limit - op)
    n = len(b)
    if p >= n:
        raise _bad("sequences: missing section header")
    nseq = b[p]
    p += 1
    if nseq >= 128:
        if nseq == 255:
            if p + 2 > n:
                raise _bad("sequences: truncated header")
            nseq = b[p] + (b[p + 1] << 8) + 0x7F00
            p += 2
        else:
            if p >= n:
                raise _bad("sequences: truncated header")
            nseq = ((nseq - 128) << 8) + b[p]
            p += 1
    litn = len(lit)
    if nseq == 0:
        if p != n:
            raise _bad("sequences: data after an empty sequences section")
        if op + litn > limit:
            raise _bad("output exceeds its bound")
        out[op:op + litn] = lit
        return op + litn
    if p >= n:
        raise _bad("sequences: truncated header")
    modes = b[p]
    p += 1
    if modes & 3:
        raise _bad("sequences: reserved bits set")
    llt, p = _seq_table(b, p, modes >> 6, "literal lengths", st[2])
    oft, p = _seq_table(b, p, (modes >> 4) & 3, "offsets", st[3])
    mlt, p = _seq_table(b, p, (modes >> 2) & 3, "match lengths", st[4])
    st[2] = llt
    st[3] = oft
    st[4] = mlt
    llt, llal = llt
    oft, ofal = oft
    mlt, mlal = mlt
    s = b[p:n]
    acc, bc, p = _bits_start(s, "sequences")
    if bc < llal + ofal + mlal:
        acc, bc, p = _fill(s, p, acc, bc)
    bc -= llal
    ls = (acc >> bc) & ((1 << llal) - 1)
    bc -= ofal
    os_ = (acc >> bc) & ((1 << ofal) - 1)
    bc -= mlal
    ms = (acc >> bc) & ((1 << mlal) - 1)
    r1 = st[5]
    r2 = st[6]
    r3 = st[7]
    om = memoryview(out)
    litm = memoryview(lit)
    lp = 0
    # Offsets are checked against the window only when the frame could outgrow it.
    chkw = wsize < limit - fstart
    while True:
        llb, lle, llm, lln, llnm, lls = llt[ls]
        mlb, mle, mlm, mln, mlnm, mls = mlt[ms]
        ofb, ofe, ofm, ofn, ofnm, ofs = oft[os_]
        if bc < ofe:
            acc, bc, p = _fill(s, p, acc, bc)
        bc -= ofe
        ov = ofb + ((acc >> bc) & ofm)
        if bc < 32:
            k = (FILL - bc) >> 3
            if p >= k:
                p -= k
                acc = ((acc & ((1 << bc) - 1)) << (k << 3)) | int.from_bytes(s[p:p + k], "little")
                bc += k << 3
            else:
                acc, bc, p = _fill(s, p, acc, bc)
        bc -= mle
        ml = mlb + ((acc >> bc) & mlm)
        bc -= lle
        ll = llb + ((acc >> bc) & llm)
        if ov > 3:
            off = ov - 3
            r3 = r2
            r2 = r1
            r1 = off
        else:
            if ll == 0:
                ov += 1
            if ov == 1:
                off = r1
            elif ov == 2:
                off = r2
                r2 = r1
                r1 = off
            else:
                if ov == 3:
                    off = r3
                else:
                    off = r1 - 1
                    if off == 0:
                        raise _bad("sequences: repeat offset 0")
                r3 = r2
                r2 = r1
                r1 = off
        if op + ll + ml > limit:
            raise _bad("output exceeds its bound")
        if ll:
            if lp + ll > litn:
                raise _bad("sequences: literal length past the literals")
            om[op:op + ll] = litm[lp:lp + ll]
            lp += ll
            op += ll
        q = op - off
        if q < fstart or (chkw and off > wsize):
            raise _bad("sequences: offset %d before the start of the output" % off)
        if off >= ml:
            om[op:op + ml] = om[q:q + ml]
            op += ml
        else:
            # Overlapping copy: the source run [q, op) repeats with period off, so
            # copying from q doubles the run each step.
            e = op + ml
            while op < e:
                k = op - q
                if k > e - op:
                    k = e - op
                om[op:op + k] = om[q:q + k]
                op += k
        nseq -= 1
        if nseq == 0:
            break
        if bc < 26:
            k = (FILL - bc) >> 3
            if p >= k:
                p -= k
                acc = ((acc & ((1 << bc) - 1)) << (k << 3)) | int.from_bytes(s[p:p + k], "little")
                bc += k << 3
            else:
                acc, bc, p = _fill(s, p, acc, bc)
        bc -= lln
        ls = lls + ((acc >> bc) & llnm)
        bc -= mln
        ms = mls + ((acc >> bc) & mlnm)
        bc -= ofn
        os_ = ofs + ((acc >> bc) & ofnm)
    if bc + 8 * p != 0:
        raise _bad("sequences: bit stream not consumed exactly")
    st[5] = r1
    st[6] = r2
    st[7] = r3
    rest = litn - lp
    if op + rest > limit:
        raise _bad("output exceeds its bound")
    om[op:op + rest] = litm[lp:litn]
    return op + rest
