# The xz filters that may precede LZMA2 in a block's filter chain: delta and the
# branch/call/jump (BCJ) converters for x86, PowerPC, IA-64, ARM, ARM-Thumb, SPARC and
# ARM64, undone in place over a block's decoded output (dmfw/compress/xz.py calls
# check() when it parses the block header and apply() once LZMA2 is done).

from dmfw.compress import CorruptData


def _le(b, a, n):
    return int.from_bytes(bytes(b[a:a + n]), "little")


def _err(why):
    return CorruptData("xz", why)


# The filters before LZMA2 in a block's chain, decoded in place over the block's whole
# output once LZMA2 is done (one call sees all of it, so the x86 filter's state across
# calls is not needed; the last few bytes that cannot hold an instruction stay as
# they are, as at the end of a stream). Positions count from the block start plus the
# start offset in the filter's properties. The algorithms are liblzma's / Linux
# lib/xz/xz_dec_bcj.c's (ARM64 as xz 5.4).
_BCJ = {0x04: "x86", 0x05: "powerpc", 0x06: "ia64", 0x07: "arm", 0x08: "armthumb",
        0x09: "sparc", 0x0A: "arm64"}
_IA64_TABLE = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
               4, 4, 6, 6, 0, 0, 7, 7, 4, 4, 0, 0, 4, 4, 0, 0)


def check(fid, props):
    if fid == 0x03:
        if len(props) != 1:
            raise _err("bad delta filter properties")
    elif fid in _BCJ:
        if len(props) not in (0, 4):
            raise _err("bad BCJ filter properties")
    else:
        raise _err("unsupported filter 0x%x" % fid)


def apply(fid, props, out, a, b):
    seg = out[a:b]
    if fid == 0x03:
        d = props[0] + 1
        for i in range(d, len(seg)):
            seg[i] = (seg[i] + seg[i - d]) & 0xFF
    else:
        start = _le(props, 0, 4) if props else 0
        _BCJ_FUNCS[fid](seg, start)
    out[a:b] = seg


def _be32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def _put_be32(b, i, v):
    b[i] = (v >> 24) & 0xFF
    b[i + 1] = (v >> 16) & 0xFF
    b[i + 2] = (v >> 8) & 0xFF
    b[i + 3] = v & 0xFF


def _put_le32(b, i, v):
    b[i] = v & 0xFF
    b[i + 1] = (v >> 8) & 0xFF
    b[i + 2] = (v >> 16) & 0xFF
    b[i + 3] = (v >> 24) & 0xFF


def _bcj_x86(buf, pos):
    # E8/E9 (call/jmp rel32) whose high address byte is 0x00/0xFF; prev_mask
    # remembers E8/E9 bytes seen in the last three positions.
    allowed = (True, True, True, False, True, False, False, False)
    bitnum = (0, 1, 2, 2, 3, 3, 3, 3)
    size = len(buf) - 4
    if size <= 0:
        return
    prev_pos = -1
    prev_mask = 0
    find = buf.find
    i = 0
    j8 = find(b"\xe8", 0, size)
    j9 = find(b"\xe9", 0, size)
    while True:
        if 0 <= j8 < i:
            j8 = find(b"\xe8", i, size)
        if 0 <= j9 < i:
            j9 = find(b"\xe9", i, size)
        j = j8 if j9 < 0 or (0 <= j8 < j9) else j9
        if j < 0:
            return
        i = j
        d = i - prev_pos
        if d > 3:
            prev_mask = 0
        else:
            prev_mask = (prev_mask << (d - 1)) & 7
            if prev_mask:
                c = buf[i + 4 - bitnum[prev_mask]]
                if not allowed[prev_mask] or c == 0 or c == 0xFF:
                    prev_pos = i
                    prev_mask = (prev_mask << 1) | 1
                    i += 1
                    continue
        prev_pos = i
        c = buf[i + 4]
        if c == 0 or c == 0xFF:
            src = buf[i + 1] | (buf[i + 2] << 8) | (buf[i + 3] << 16) | (c << 24)
            while True:
                dest = (src - (pos + i + 5)) & 0xFFFFFFFF
                if prev_mask == 0:
                    break
                j = bitnum[prev_mask] * 8
                c = (dest >> (24 - j)) & 0xFF
                if c != 0 and c != 0xFF:
                    break
                src = dest ^ ((1 << (32 - j)) - 1)
            dest &= 0x01FFFFFF
            if dest & 0x01000000:
                dest |= 0xFF000000
            _put_le32(buf, i + 1, dest)
            i += 5
        else:
            prev_mask = (prev_mask << 1) | 1
            i += 1


def _bcj_powerpc(buf, pos):
    for i in range(0, len(buf) - 3, 4):
        if buf[i] & 0xFC == 0x48 and buf[i + 3] & 3 == 1:
            v = _be32(buf, i)
            v = ((v & 0x03FFFFFC) - (pos + i)) & 0x03FFFFFC
            _put_be32(buf, i, v | 0x48000001)


def _bcj_ia64(buf, pos):
    for i in range(0, len(buf) - 15, 16):
        mask = _IA64_TABLE[buf[i] & 0x1F]
        for slot in range(3):
            if not (mask >> slot) & 1:
                continue
            bp = 5 + 41 * slot
            byte = i + (bp >> 3)
            res = bp & 7
            instr = int.from_bytes(bytes(buf[byte:byte + 6]), "little")
            norm = instr >> res
            if (norm >> 37) & 0x0F == 0x05 and (norm >> 9) & 0x07 == 0:
                addr = ((norm >> 13) & 0x0FFFFF) | (((norm >> 36) & 1) << 20)
                addr = (((addr << 4) - (pos + i)) & 0xFFFFFFFF) >> 4
                norm &= ~(0x8FFFFF << 13)
                norm |= (addr & 0x0FFFFF) << 13
                norm |= (addr & 0x100000) << 16
                instr = (instr & ((1 << res) - 1)) | (norm << res)
                for j in range(6):
                    buf[byte + j] = (instr >> (8 * j)) & 0xFF


def _bcj_arm(buf, pos):
    i = buf.find(b"\xeb", 3)
    while i >= 0:
        i -= 3
        if i & 3 == 0:
            a = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16)
            a = (((a << 2) - (pos + i + 8)) & 0xFFFFFFFF) >> 2
            buf[i] = a & 0xFF
            buf[i + 1] = (a >> 8) & 0xFF
            buf[i + 2] = (a >> 16) & 0xFF
        i = buf.find(b"\xeb", i + 4)


def _bcj_armthumb(buf, pos):
    i = 0
    n = len(buf) - 4
    while i <= n:
        if buf[i + 1] & 0xF8 == 0xF0 and buf[i + 3] & 0xF8 == 0xF8:
            a = ((buf[i + 1] & 7) << 19) | (buf[i] << 11) | ((buf[i + 3] & 7) << 8) | buf[i + 2]
            a = (((a << 1) - (pos + i + 4)) & 0xFFFFFFFF) >> 1
            buf[i + 1] = 0xF0 | ((a >> 19) & 7)
            buf[i] = (a >> 11) & 0xFF
            buf[i + 3] = 0xF8 | ((a >> 8) & 7)
            buf[i + 2] = a & 0xFF
            i += 4
        else:
            i += 2


def _bcj_sparc(buf, pos):
    for i in range(0, len(buf) - 3, 4):
        if (buf[i] == 0x40 and buf[i + 1] & 0xC0 == 0) or \
                (buf[i] == 0x7F and buf[i + 1] & 0xC0 == 0xC0):
            v = _be32(buf, i)
            v = (((v << 2) - (pos + i)) & 0xFFFFFFFF) >> 2
            v = ((0x40000000 - (v & 0x400000)) | 0x40000000 | (v & 0x3FFFFF)) & 0xFFFFFFFF
            _put_be32(buf, i, v)


def _bcj_arm64(buf, pos):
    for i in range(0, len(buf) - 3, 4):
        top = buf[i + 3]
        if top >> 2 == 0x25:
            # BL: 26-bit word offset
            v = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (top << 24)
            pc = ((pos + i) & 0xFFFFFFFF) >> 2
            _put_le32(buf, i, 0x94000000 | ((v - pc) & 0x03FFFFFF))
        elif top & 0x9F == 0x90:
            # ADRP: 21-bit page offset, converted only within +-512 MiB
            v = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (top << 24)
            src = ((v >> 29) & 3) | ((v >> 3) & 0x001FFFFC)
            if (src + 0x00020000) & 0x001C0000:
                continue
            d = (src - (((pos + i) & 0xFFFFFFFF) >> 12)) & 0xFFFFFFFF
            v &= 0x9000001F
            v |= (d & 3) << 29
            v |= (d & 0x0003FFFC) << 3
            v |= (0x100000000 - (d & 0x00020000)) & 0x00E00000
            _put_le32(buf, i, v)


_BCJ_FUNCS = {0x04: _bcj_x86, 0x05: _bcj_powerpc, 0x06: _bcj_ia64, 0x07: _bcj_arm,
              0x08: _bcj_armthumb, 0x09: _bcj_sparc, 0x0A: _bcj_arm64}
