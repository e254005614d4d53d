"""dm-crypt, as Linux 6.12's drivers/md/dm-crypt.c: a linear mapping whose
sectors are encrypted on the lower device (ciphers: dmfw.crypto.cipher).

Table:  <cipher> <key> <iv_offset> <dev> <offset> [<#opt> <opt>...]
    <cipher>  cipher[:keycount]-chainmode-ivmode[:ivopts] or capi:<api>-ivmode[:ivopts]
    <key>     hex, `-` for none, or :<size>:logon:<desc> / :<size>:user:<desc>
              from the firmware keyring (dmfw.keyring)
    <iv_offset> added to the sector for the IV (512-byte units)
    options   allow_discards same_cpu_crypt high_priority submit_from_crypt_cpus
              no_read_workqueue no_write_workqueue sector_size:<512..4096>
              iv_large_sectors integrity_key_size:<n> (integrity:<n>:<type> is
              parsed, then refused: dmfw has no dm-integrity below it)
Status: (empty), as crypt_status's STATUSTYPE_INFO.
Table line: crypt_status's STATUSTYPE_TABLE: the key in lowercase hex (zeros
    unless showkeys, as dmsetup masks it), a keyring key as :<size>:<type>:<desc>.
"""

from dmfw.errors import IOFailure, EINVAL, ENOKEY
from dmfw.target import Target, TargetError
from dmfw.numbers import parse_uint

# Feature flags in crypt_status's order (name, table word).
_FLAGS = ("allow_discards", "same_cpu_crypt", "high_priority", "submit_from_crypt_cpus",
          "no_read_workqueue", "no_write_workqueue")
MAX_FEATURE_ARGS = 9
MAX_TAG_SIZE = 480
# Writes are encrypted through a bounce buffer of at most this many bytes
# (never the caller's buffer).
_BOUNCE = 65536
_HEX = "0123456789abcdefABCDEF"


def _key_size(s):
    """get_key_size(): (size, rest) where rest is the ':type:desc' part of a
    keyring reference, or None for a hex key."""
    if not s.startswith(":"):
        return len(s) >> 1, None
    i = s.find(":", 1)
    if i < 0:
        return -1, None
    n = parse_uint(s[1:i], 31)
    if n is None:
        return -1, None
    return n, s[i:]


def _hex2bin(s, n):
    # The kernel's hex2bin over the first 2n characters (a trailing odd
    # character is ignored, as there).
    out = bytearray(n)
    for i in range(n):
        a = s[2 * i]
        b = s[2 * i + 1]
        if a not in _HEX or b not in _HEX:
            out[:] = bytes(n)
            return None
        out[i] = int(a + b, 16)
    return out


class CryptTarget(Target):
    name = "crypt"
    # What Linux 6.12 registers (dmsetup targets in the reference guest).
    version = (1, 28, 0)

    def __init__(self, ctx, begin, length, argv):
        Target.__init__(self, ctx, begin, length, argv)
        self.key = None
        self.cipher = None
        if len(argv) < 5:
            raise TargetError("Not enough arguments")
        key_size, ref = _key_size(argv[1])
        if key_size < 0:
            raise TargetError("Cannot parse key size")
        self.key_size = key_size
        self.key_string = None
        self.flags = []
        self.sector_size = 512
        self.iv_large = False
        self.tag_size = 0
        self.cipher_auth = None
        self.mac_size = None
        if len(argv) > 5:
            self._optional(argv[5:])
        try:
            self._cipher(argv[0], argv[1], ref)
            iv = parse_uint(argv[2])
            if iv is None or iv & ((self.sector_size >> 9) - 1):
                raise TargetError("Invalid iv_offset sector")
            self.iv_offset = iv
            self.dev = ctx.get_device(argv[3])
            start = parse_uint(argv[4])
            if start is None:
                raise TargetError("Invalid device sector")
            self.start = start
            if self.tag_size:
                # crypt_integrity_ctr: the lower device must carry dm-integrity's
                # tag profile, which no dmfw device has.
                raise TargetError("Integrity profile not supported.")
        except Exception:
            self.dtr()
            raise
        self.cipher_string = argv[0]

    def _optional(self, args):
        # crypt_ctr_optional(): a counted group; words past the count are ignored.
        n = parse_uint(args[0], 32)
        if n is None or n > MAX_FEATURE_ARGS or len(args) - 1 < n:
            raise TargetError("Invalid number of feature args")
        for w in args[1:1 + n]:
            lw = w.lower()
            if lw in _FLAGS:
                if lw not in self.flags:
                    self.flags.append(lw)
            elif w.startswith("integrity:"):
                val, _c, prof = w[10:].partition(":")
                v = parse_uint(val, 32)
                if v is None or not _c:
                    raise TargetError("Invalid feature arguments")
                if v == 0 or v > MAX_TAG_SIZE:
                    raise TargetError("Invalid integrity arguments")
                if prof.lower() not in ("aead", "none"):
                    raise TargetError("Unknown integrity profile")
                self.tag_size = v
                self.cipher_auth = prof
            elif w.startswith("integrity_key_size:") and parse_uint(w[19:], 32) is not None:
                v = parse_uint(w[19:], 32)
                if not v:
                    raise TargetError("Invalid integrity_key_size argument")
                self.mac_size = v
            elif w.startswith("sector_size:") and parse_uint(w[12:], 16) is not None:
                v = parse_uint(w[12:], 16)
                if v < 512 or v > 4096 or v & (v - 1):
                    raise TargetError("Invalid feature value for sector_size")
                if self.length & ((v >> 9) - 1):
                    raise TargetError("Device size is not multiple of sector_size feature")
                self.sector_size = v
            elif lw == "iv_large_sectors":
                self.iv_large = True
            else:
                raise TargetError("Invalid feature arguments")

    def _cipher(self, spec, key, ref):
        from dmfw.crypto import cipher
        if self.cipher_auth is not None and self.cipher_auth.lower() == "aead" \
                and not spec.startswith("capi:"):
            raise TargetError("Bad cipher specification")
        s = cipher.parse_spec(spec)
        if self.cipher_auth is not None and self.cipher_auth.lower() == "aead":
            # AEAD needs authenc()/gcm tfms dmfw does not have.
            raise TargetError("Error allocating crypto tfm")
        bad = TargetError("Error decoding and setting key", EINVAL)
        n = self.key_size
        if ref is not None:
            kb = self._keyring_key(ref[1:])
        elif n == 0:
            raise bad
        else:
            kb = _hex2bin(key, n)
            if kb is None:
                raise bad
            self.key = kb
        try:
            self.cipher = cipher.new(s, kb, self.sector_size, self.iv_large)
        except TargetError as e:
            raise TargetError("Error decoding and setting key", e.errno)
        finally:
            if ref is not None:
                # As the kernel: the keyring payload copy is wiped once the
                # cipher holds the key.
                kb[:] = bytes(len(kb))

    def _keyring_key(self, ref):
        # crypt_set_keyring_key(): "<logon|user>:<desc>".
        bad = TargetError("Error decoding and setting key", EINVAL)
        if not self.key_size:
            raise bad
        t, colon, desc = ref.partition(":")
        if not colon or not t or not desc or t not in ("logon", "user"):
            raise bad
        from dmfw.keyring import get_keyring
        payload = get_keyring(self.ctx.mapper).key(t, desc)
        if payload is None:
            raise TargetError("Error decoding and setting key", ENOKEY)
        if len(payload) != self.key_size:
            raise bad
        self.key_string = ref
        return bytearray(payload)

    # -- I/O
    def _check(self, sector, mv):
        m = (self.sector_size >> 9) - 1
        if (sector & m) or ((len(mv) >> 9) & m):
            # crypt_map kills I/O not aligned to the crypto sector.
            raise IOFailure("crypt: I/O at sector %d not aligned to sector_size %d"
                            % (sector, self.sector_size))

    def read(self, sector, mv):
        self._check(sector, mv)
        self.dev.readblocks(self.start + sector, mv)
        self.cipher.decrypt(mv, sector + self.iv_offset)

    def write(self, sector, mv):
        self._check(sector, mv)
        n = len(mv)
        step = _BOUNCE if n > _BOUNCE else n
        buf = bytearray(step)
        o = 0
        while o < n:
            k = n - o if n - o < step else step
            b = buf if k == step else bytearray(k)
            b[:] = mv[o:o + k]
            s = sector + (o >> 9)
            self.cipher.encrypt(b, s + self.iv_offset)
            self.dev.writeblocks(self.start + s, b)
            o += k

    # -- reporting
    def params(self, showkeys=False):
        if self.key_size == 0:
            key = "-"
        elif self.key_string is not None:
            key = ":%d:%s" % (self.key_size, self.key_string)
        elif showkeys and self.key is not None:
            key = "".join(["%02x" % b for b in self.key])
        else:
            key = "0" * (2 * self.key_size)
        out = "%s %s %d %s %d" % (self.cipher_string, key, self.iv_offset,
                                  self.dev.devno(), self.start)
        opts = [f for f in _FLAGS if f in self.flags]
        if self.sector_size != 512:
            opts.append("sector_size:%d" % self.sector_size)
        if self.iv_large:
            opts.append("iv_large_sectors")
        if self.mac_size is not None:
            opts.append("integrity_key_size:%d" % self.mac_size)
        if opts:
            out += " %d %s" % (len(opts), " ".join(opts))
        return out

    def areas(self):
        return [(self.dev, self.start, self.length)]

    def logical_block_size(self):
        # crypt_io_hints: the crypto sector is the smallest I/O.
        return max(Target.logical_block_size(self), self.sector_size)

    def dtr(self):
        if self.key is not None:
            self.key[:] = bytes(len(self.key))
        if self.cipher is not None:
            self.cipher.wipe()
            self.cipher = None


TARGETS = [CryptTarget]
