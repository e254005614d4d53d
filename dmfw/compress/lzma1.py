# The LZMA range decoder core shared by .xz (LZMA2 chunks), .lzma and erofs MicroLZMA.
#
# The dictionary is the output itself: squashfs/erofs blocks are at most 1 MiB, so the
# whole output lives in one bytearray and a match copies from earlier in it. Distances
# are checked against the bytes produced since the last dictionary reset (`base`) and
# the declared dictionary size, so a corrupt stream can never read before the output.
#
# Reading past the input raises IndexError inside run(), which becomes CorruptData:
# callers hand in exactly the bytes the range coder may use (one LZMA2 chunk, the
# .lzma payload), so there is no slack to bound and no hang. `code` is kept to 32 bits
# at each input byte, so corrupt input cannot grow Python integers either.
#
# Speed: one function with every bit decode written out (no per-bit calls), the
# probabilities in one flat list, state in locals. The probability layout (offsets are
# literal numbers in run() because globals are slow on MicroPython):
#     0 is_match[12*16]   192 is_rep[12]   204 is_rep0[12]   216 is_rep1[12]
#   228 is_rep2[12]       240 is_rep0_long[12*16]             432 pos_slot[4*64]
#   688 spec_pos[114]     802 align[16]     818 len coder     1332 rep len coder
#  1846 literal coders, 0x300 each (2**(lc+lp) of them)
# A length coder is choice, choice2, low[16*8], mid[16*8], high[256] (514 entries).

from dmfw.compress import CorruptData

# State after a literal, indexed by the state before it.
_LIT_NEXT = (0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 4, 5)


class LzmaState:
    """Decoder state that survives LZMA2 chunk boundaries: probabilities, the
    state machine, the four reps, a match cut short by the output end."""

    def __init__(self, algo, dict_size):
        self.algo = algo
        self.dsz = dict_size
        self.probs = None
        self.lc = self.lp = self.pb = -1
        self.base = 0
        self.pending = 0
        self.eopm = False
        self.rng = self.code = 0

    def set_props(self, b):
        """lc/lp/pb from a properties byte; lc + lp <= 4 as liblzma and Linux demand
        (it also bounds the literal tables to 12288 entries)."""
        if b >= 225:
            raise CorruptData(self.algo, "bad LZMA properties byte 0x%02x" % b)
        lc = b % 9
        b //= 9
        lp = b % 5
        pb = b // 5
        if lc + lp > 4:
            raise CorruptData(self.algo, "lc + lp > 4 (lc=%d lp=%d)" % (lc, lp))
        self.lc, self.lp, self.pb = lc, lp, pb

    def reset(self):
        """State reset: every probability to one half, reps to 0, state 0."""
        n = 1846 + (0x300 << (self.lc + self.lp))
        if self.probs is not None and len(self.probs) == n:
            p = self.probs
            for i in range(n):
                p[i] = 1024
        else:
            self.probs = [1024] * n
        self.state = 0
        self.rep0 = self.rep1 = self.rep2 = self.rep3 = 0
        self.pending = 0
        self.eopm = False

    def init_rc(self, inp, ipos, first_any=False):
        """Start the range coder on inp[ipos:ipos+5]. The first byte is always 0
        except in MicroLZMA, where it carries the negated properties."""
        if ipos + 5 > len(inp):
            raise CorruptData(self.algo, "truncated range coder header")
        if inp[ipos] != 0 and not first_any:
            raise CorruptData(self.algo, "range coder does not start with 0")
        self.code = int.from_bytes(bytes(inp[ipos + 1:ipos + 5]), "big")
        self.rng = 0xFFFFFFFF
        if self.code == 0xFFFFFFFF:
            raise CorruptData(self.algo, "range coder start past its range")
        return ipos + 5

    def finish(self, inp, ipos):
        """The normalisation the encoder's flush ends with; True when the range
        coder stopped where an encoder leaves it (code 0)."""
        if self.rng < 16777216:
            if ipos >= len(inp):
                raise CorruptData(self.algo, "truncated input")
            self.rng <<= 8
            self.code = ((self.code << 8) | inp[ipos]) & 0xFFFFFFFF
            ipos += 1
        return ipos, self.code == 0

    def run(self, inp, ipos, out, opos, oend, eopm_ok=False):
        """Decode into out[opos:oend] (out is at least oend long). Stops at oend
        (a match crossing it is left in self.pending) or at the end marker when
        eopm_ok. Returns (ipos, opos)."""
        try:
            return self._run(inp, ipos, out, opos, oend, eopm_ok)
        except IndexError:
            raise CorruptData(self.algo, "truncated input")

    def _run(self, inp, ipos, out, opos, oend, eopm_ok):
        probs = self.probs
        rng = self.rng
        code = self.code
        state = self.state
        rep0 = self.rep0
        rep1 = self.rep1
        rep2 = self.rep2
        rep3 = self.rep3
        base = self.base
        dsz = self.dsz
        lc = self.lc
        lcs = 8 - lc
        lpm = (1 << self.lp) - 1
        pbm = (1 << self.pb) - 1
        # copies read through a memoryview: no temporary copy of each match, which on
        # MicroPython would mean a garbage collection every few kilobytes
        mv = memoryview(out)
        if self.pending:
            ln = self.pending
            self.pending = 0
            if opos + ln > oend:
                self.pending = opos + ln - oend
                ln = oend - opos
            src = opos - rep0 - 1
            while ln > 0:
                n = opos - src
                if n > ln:
                    n = ln
                out[opos:opos + n] = mv[src:src + n]
                opos += n
                ln -= n
        while opos < oend:
            pos = opos - base
            ps = pos & pbm
            # is_match[state][pos_state]
            i = (state << 4) + ps
            if rng < 16777216:
                rng <<= 8
                code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                ipos += 1
            p = probs[i]
            bound = (rng >> 11) * p
            if code < bound:
                rng = bound
                probs[i] = p + ((2048 - p) >> 5)
                # literal
                prev = out[opos - 1] if pos else 0
                lit = 1846 + 0x300 * (((pos & lpm) << lc) + (prev >> lcs))
                sym = 1
                if state < 7:
                    while sym < 256:
                        i = lit + sym
                        if rng < 16777216:
                            rng <<= 8
                            code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                            ipos += 1
                        p = probs[i]
                        bound = (rng >> 11) * p
                        if code < bound:
                            rng = bound
                            probs[i] = p + ((2048 - p) >> 5)
                            sym <<= 1
                        else:
                            rng -= bound
                            code -= bound
                            probs[i] = p - (p >> 5)
                            sym = (sym << 1) | 1
                else:
                    # matched literal: the byte at rep0 steers the tree until
                    # the first bit that differs from it
                    if rep0 >= pos:
                        raise CorruptData(self.algo, "match distance past the window")
                    mb = out[opos - rep0 - 1] << 1
                    offs = 0x100
                    while sym < 256:
                        mbit = mb & offs
                        mb <<= 1
                        i = lit + offs + mbit + sym
                        if rng < 16777216:
                            rng <<= 8
                            code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                            ipos += 1
                        p = probs[i]
                        bound = (rng >> 11) * p
                        if code < bound:
                            rng = bound
                            probs[i] = p + ((2048 - p) >> 5)
                            sym <<= 1
                            offs &= ~mbit
                        else:
                            rng -= bound
                            code -= bound
                            probs[i] = p - (p >> 5)
                            sym = (sym << 1) | 1
                            offs = mbit
                out[opos] = sym & 0xFF
                opos += 1
                state = _LIT_NEXT[state]
                continue
            rng -= bound
            code -= bound
            probs[i] = p - (p >> 5)
            # is_rep[state]
            i = 192 + state
            if rng < 16777216:
                rng <<= 8
                code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                ipos += 1
            p = probs[i]
            bound = (rng >> 11) * p
            if code < bound:
                rng = bound
                probs[i] = p + ((2048 - p) >> 5)
                newmatch = True
                state = 7 if state < 7 else 10
                lb = 818
            else:
                rng -= bound
                code -= bound
                probs[i] = p - (p >> 5)
                newmatch = False
                if opos == base:
                    raise CorruptData(self.algo, "repeated match before any output")
                # is_rep0[state]
                i = 204 + state
                if rng < 16777216:
                    rng <<= 8
                    code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                    ipos += 1
                p = probs[i]
                bound = (rng >> 11) * p
                if code < bound:
                    rng = bound
                    probs[i] = p + ((2048 - p) >> 5)
                    # is_rep0_long[state][pos_state]
                    i = 240 + (state << 4) + ps
                    if rng < 16777216:
                        rng <<= 8
                        code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                        ipos += 1
                    p = probs[i]
                    bound = (rng >> 11) * p
                    if code < bound:
                        rng = bound
                        probs[i] = p + ((2048 - p) >> 5)
                        # short rep: one byte from rep0
                        if rep0 >= pos or rep0 >= dsz:
                            raise CorruptData(self.algo, "match distance past the window")
                        out[opos] = out[opos - rep0 - 1]
                        opos += 1
                        state = 9 if state < 7 else 11
                        continue
                    rng -= bound
                    code -= bound
                    probs[i] = p - (p >> 5)
                else:
                    rng -= bound
                    code -= bound
                    probs[i] = p - (p >> 5)
                    # is_rep1[state]
                    i = 216 + state
                    if rng < 16777216:
                        rng <<= 8
                        code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                        ipos += 1
                    p = probs[i]
                    bound = (rng >> 11) * p
                    if code < bound:
                        rng = bound
                        probs[i] = p + ((2048 - p) >> 5)
                        d = rep1
                    else:
                        rng -= bound
                        code -= bound
                        probs[i] = p - (p >> 5)
                        # is_rep2[state]
                        i = 228 + state
                        if rng < 16777216:
                            rng <<= 8
                            code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                            ipos += 1
                        p = probs[i]
                        bound = (rng >> 11) * p
                        if code < bound:
                            rng = bound
                            probs[i] = p + ((2048 - p) >> 5)
                            d = rep2
                        else:
                            rng -= bound
                            code -= bound
                            probs[i] = p - (p >> 5)
                            d = rep3
                            rep3 = rep2
                        rep2 = rep1
                    rep1 = rep0
                    rep0 = d
                state = 8 if state < 7 else 11
                lb = 1332
            # length: choice, choice2, then a 3-bit low/mid or 8-bit high tree
            if rng < 16777216:
                rng <<= 8
                code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                ipos += 1
            p = probs[lb]
            bound = (rng >> 11) * p
            if code < bound:
                rng = bound
                probs[lb] = p + ((2048 - p) >> 5)
                t = lb + 2 + (ps << 3)
                lim = 8
                ln = 2 - 8
            else:
                rng -= bound
                code -= bound
                probs[lb] = p - (p >> 5)
                i = lb + 1
                if rng < 16777216:
                    rng <<= 8
                    code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                    ipos += 1
                p = probs[i]
                bound = (rng >> 11) * p
                if code < bound:
                    rng = bound
                    probs[i] = p + ((2048 - p) >> 5)
                    t = lb + 130 + (ps << 3)
                    lim = 8
                    ln = 10 - 8
                else:
                    rng -= bound
                    code -= bound
                    probs[i] = p - (p >> 5)
                    t = lb + 258
                    lim = 256
                    ln = 18 - 256
            sym = 1
            while sym < lim:
                i = t + sym
                if rng < 16777216:
                    rng <<= 8
                    code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                    ipos += 1
                p = probs[i]
                bound = (rng >> 11) * p
                if code < bound:
                    rng = bound
                    probs[i] = p + ((2048 - p) >> 5)
                    sym <<= 1
                else:
                    rng -= bound
                    code -= bound
                    probs[i] = p - (p >> 5)
                    sym = (sym << 1) | 1
            ln += sym
            if newmatch:
                # distance: 6-bit slot (per length state), then reverse-tree or
                # direct + align bits
                t = 432 + ((ln - 2 if ln < 6 else 3) << 6)
                sym = 1
                while sym < 64:
                    i = t + sym
                    if rng < 16777216:
                        rng <<= 8
                        code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                        ipos += 1
                    p = probs[i]
                    bound = (rng >> 11) * p
                    if code < bound:
                        rng = bound
                        probs[i] = p + ((2048 - p) >> 5)
                        sym <<= 1
                    else:
                        rng -= bound
                        code -= bound
                        probs[i] = p - (p >> 5)
                        sym = (sym << 1) | 1
                slot = sym - 64
                rep3 = rep2
                rep2 = rep1
                rep1 = rep0
                if slot < 4:
                    d = slot
                else:
                    nd = (slot >> 1) - 1
                    d = (2 | (slot & 1)) << nd
                    if slot < 14:
                        t = 688 + d - slot - 1
                        n = nd
                    else:
                        n = nd - 4
                        while n:
                            if rng < 16777216:
                                rng <<= 8
                                code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                                ipos += 1
                            rng >>= 1
                            n -= 1
                            if code >= rng:
                                code -= rng
                                d += 1 << (n + 4)
                        t = 802
                        n = 4
                    # reverse bit tree of n bits at t
                    sym = 1
                    m = 1
                    while n:
                        i = t + sym
                        if rng < 16777216:
                            rng <<= 8
                            code = ((code << 8) | inp[ipos]) & 0xFFFFFFFF
                            ipos += 1
                        p = probs[i]
                        bound = (rng >> 11) * p
                        if code < bound:
                            rng = bound
                            probs[i] = p + ((2048 - p) >> 5)
                            sym <<= 1
                        else:
                            rng -= bound
                            code -= bound
                            probs[i] = p - (p >> 5)
                            sym = (sym << 1) | 1
                            d |= m
                        m <<= 1
                        n -= 1
                rep0 = d
                if d == 0xFFFFFFFF and eopm_ok:
                    self.eopm = True
                    break
            if rep0 >= pos or rep0 >= dsz:
                raise CorruptData(self.algo, "match distance past the window")
            if opos + ln > oend:
                self.pending = opos + ln - oend
                ln = oend - opos
            src = opos - rep0 - 1
            if rep0 + 1 >= ln:
                out[opos:opos + ln] = mv[src:src + ln]
                opos += ln
            else:
                # overlapping copy: each pass doubles the repeated part
                while ln > 0:
                    n = opos - src
                    if n > ln:
                        n = ln
                    out[opos:opos + n] = mv[src:src + n]
                    opos += n
                    ln -= n
        self.rng = rng
        self.code = code
        self.state = state
        self.rep0 = rep0
        self.rep1 = rep1
        self.rep2 = rep2
        self.rep3 = rep3
        return ipos, opos
