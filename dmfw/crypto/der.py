# A strict DER reader: enough ASN.1 for X.509 and CMS. Every malformed,
# truncated or over-long input is a FormatError (never IndexError & co),
# because signatures and certificates come from untrusted media.

from dmfw.errors import FormatError, EBADMSG

# Universal tags
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8String = 0x0c
SEQUENCE = 0x30
SET = 0x31
PrintableString = 0x13
T61String = 0x14
IA5String = 0x16
UTCTime = 0x17
GeneralizedTime = 0x18
BMPString = 0x1e

MAX_DEPTH = 32


def bad(msg):
    return FormatError("DER: " + msg, EBADMSG)


class Node:
    """One TLV: tag byte, raw bytes of the whole element, and the content
    bounds inside `buf`."""

    def __init__(self, buf, tag, start, cstart, end):
        self.buf = buf
        self.tag = tag
        self.start = start
        self.cstart = cstart
        self.end = end

    def raw(self):
        return self.buf[self.start:self.end]

    def content(self):
        return self.buf[self.cstart:self.end]

    def constructed(self):
        return bool(self.tag & 0x20)

    def children(self):
        if not self.constructed():
            raise bad("primitive element has no children")
        out = []
        pos = self.cstart
        while pos < self.end:
            n = read(self.buf, pos, self.end)
            out.append(n)
            pos = n.end
        return out

    def expect(self, tag, what="element"):
        if self.tag != tag:
            raise bad("%s: expected tag 0x%02x, got 0x%02x" % (what, tag, self.tag))
        return self


def read(buf, pos=0, limit=None):
    """Parse the TLV at buf[pos]; it must end by `limit` (default len)."""
    if limit is None:
        limit = len(buf)
    if pos + 2 > limit:
        raise bad("truncated header")
    tag = buf[pos]
    if tag & 0x1f == 0x1f:
        raise bad("high tag numbers are not used here")
    ln = buf[pos + 1]
    p = pos + 2
    if ln & 0x80:
        k = ln & 0x7f
        if k == 0:
            raise bad("indefinite length")
        if k > 4 or p + k > limit:
            raise bad("bad length")
        ln = 0
        for i in range(k):
            ln = (ln << 8) | buf[p + i]
        if buf[p] == 0 or ln < 0x80:
            raise bad("non-minimal length")
        p += k
    if p + ln > limit:
        raise bad("truncated content")
    return Node(buf, tag, pos, p, p + ln)


def parse(data, tag=None):
    """The single top-level element of `data` (nothing may follow)."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    n = read(data, 0)
    if n.end != len(data):
        raise bad("trailing data")
    if tag is not None:
        n.expect(tag)
    return n


def seq(node, what="SEQUENCE", lo=0, hi=999):
    ch = node.expect(SEQUENCE, what).children()
    if not (lo <= len(ch) <= hi):
        raise bad("%s: %d elements" % (what, len(ch)))
    return ch


def integer(node, what="INTEGER"):
    c = node.expect(INTEGER, what).content()
    if not c:
        raise bad("empty INTEGER")
    if len(c) > 1 and ((c[0] == 0 and not c[1] & 0x80) or
                       (c[0] == 0xff and c[1] & 0x80)):
        raise bad("non-minimal INTEGER")
    v = int.from_bytes(bytes(c), "big")
    if c[0] & 0x80:
        v -= 1 << (8 * len(c))
    return v


def oid(node):
    c = node.expect(OID, "OID").content()
    if not c or c[-1] & 0x80:
        raise bad("bad OID")
    parts = []
    v = 0
    first = True
    for b in c:
        if v == 0 and b == 0x80:
            raise bad("bad OID")
        v = (v << 7) | (b & 0x7f)
        if not b & 0x80:
            if first:
                if v < 80:
                    parts.extend((v // 40, v % 40))
                else:
                    parts.extend((2, v - 80))
                first = False
            else:
                parts.append(v)
            v = 0
    return ".".join([str(p) for p in parts])


def bit_string(node):
    c = node.expect(BIT_STRING, "BIT STRING").content()
    if not c or c[0] > 7 or (len(c) == 1 and c[0]):
        raise bad("bad BIT STRING")
    if c[0]:
        raise bad("BIT STRING with unused bits")
    return bytes(c[1:])


def octets(node):
    return bytes(node.expect(OCTET_STRING, "OCTET STRING").content())


def string(node):
    c = bytes(node.content())
    if node.tag == BMPString:
        return "".join([chr((c[i] << 8) | c[i + 1]) for i in range(0, len(c) - 1, 2)])
    try:
        return c.decode()
    except UnicodeError:
        return "".join([chr(x) for x in c])


def encode_len(n):
    if n < 0x80:
        return bytes([n])
    b = _minbytes(n)
    return bytes([0x80 | len(b)]) + b


def _minbytes(n):
    out = b""
    while n:
        out = bytes([n & 0xff]) + out
        n >>= 8
    return out


def encode(tag, content):
    return bytes([tag]) + encode_len(len(content)) + bytes(content)
