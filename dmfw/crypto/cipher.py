# dm-crypt's sector ciphers: the kernel's cipher spec (cipher-chainmode-ivmode
# or capi:) turned into an object that encrypts/decrypts whole sectors in
# place. XTS and CBC are built on AES-ECB (dmfw.crypto.aes) so a crypto
# sector is one ECB call: the per-block tweaks/IVs are XORed in as one big
# integer over the whole sector.
#
# Errors carry the kernel's ti->error strings (drivers/md/dm-crypt.c, 6.12),
# raised as TargetError so the crypt target passes them on unchanged.

from dmfw.errors import EINVAL, ENOENT
from dmfw.target import TargetError

IV_MODES = ("plain", "plain64", "plain64be", "essiv", "benbi", "null")
# Chain modes dmfw implements, with the key sizes the kernel's template accepts.
_KEYS = {"xts": (32, 48, 64), "cbc": (16, 24, 32), "ecb": (16, 24, 32)}


class Spec:
    """A parsed cipher spec: cipher, chain mode, IV mode (None when the mode
    takes no IV), IV options, key count (tfms_count)."""

    def __init__(self, cipher, chainmode, ivmode, ivopts, keycount):
        self.cipher = cipher
        self.chainmode = chainmode
        self.ivmode = ivmode
        self.ivopts = ivopts
        self.keycount = keycount


def _rsplit1(s, ch):
    i = s.rfind(ch)
    if i < 0:
        return s, None
    return s[:i], s[i + 1:]


def _capi(api):
    # "xts(aes)" -> ("xts", "aes"); anything else is a tfm the kernel's crypto
    # API would fail to allocate here.
    i = api.find("(")
    if i <= 0 or not api.endswith(")"):
        return None, None
    return api[:i], api[i + 1:-1]


def parse_spec(spec):
    """The kernel's crypt_ctr_cipher_{old,new} + crypt_ctr_ivmode parse of a
    cipher spec, as a Spec; TargetError with the kernel's message if bad."""
    keycount = 1
    if spec.startswith("capi:"):
        rest, ivopts = _rsplit1(spec[5:], ":")
        api, ivmode = _rsplit1(rest, "-")
        if ivmode is not None and ivmode == "essiv" and not ivopts:
            raise TargetError("Digest algorithm missing for ESSIV mode")
        chainmode, cipher = _capi(api)
        if chainmode is None:
            raise TargetError("Error allocating crypto tfm", ENOENT)
    else:
        if "(" in spec:
            raise TargetError("Bad cipher specification")
        first, _s, tmp = spec.partition("-")
        cipher, colon, kc = first.partition(":")
        if colon:
            from dmfw.numbers import parse_uint
            keycount = parse_uint(kc)
            if keycount is None or keycount == 0 or keycount & (keycount - 1) \
                    or keycount > 0xffffffff:
                raise TargetError("Bad cipher key count specification")
        chainmode = None
        ivmode = ivopts = None
        if _s:
            chainmode, _s2, tmp = tmp.partition("-")
            if _s2:
                ivmode, _s3, ivopts = tmp.partition(":")
                if not _s3:
                    ivopts = None
        # dm-crypt's original format: a bare cipher (or cipher-plain) is cbc-plain.
        if chainmode is None or (chainmode == "plain" and not ivmode):
            chainmode = "cbc"
            ivmode = "plain"
        if chainmode != "ecb" and not ivmode:
            raise TargetError("IV mechanism required")
        if ivmode == "essiv" and not ivopts:
            raise TargetError("Digest algorithm missing for ESSIV mode")
    if cipher != "aes" or chainmode not in _KEYS:
        raise TargetError("Error allocating crypto tfm", ENOENT)
    if ivmode == "essiv":
        from dmfw.crypto import hashes
        if not hashes.supported(ivopts):
            raise TargetError("Error allocating crypto tfm", ENOENT)
    if chainmode == "ecb":
        # No IV in ECB: the kernel warns "Selected cipher does not support
        # IVs" and ignores whatever IV mode was named.
        ivmode = ivopts = None
    elif ivmode is not None and ivmode not in IV_MODES:
        raise TargetError("Invalid IV mode")
    return Spec(cipher, chainmode, ivmode, ivopts, keycount)


def key_sizes(spec):
    """Key sizes in bytes the spec accepts (whole key, all key parts)."""
    s = spec if isinstance(spec, Spec) else parse_spec(spec)
    return tuple(n * s.keycount for n in _KEYS[s.chainmode])


def _iv(ivmode, sector):
    # The 16-byte IV of one crypto sector as a little-endian integer (the
    # byte order XTS/CBC use below).
    if ivmode == "plain":
        return sector & 0xffffffff
    if ivmode == "plain64" or ivmode == "essiv":
        return sector & 0xffffffffffffffff
    if ivmode == "plain64be":
        v = sector & 0xffffffffffffffff
        return int.from_bytes(v.to_bytes(8, "big"), "little") << 64
    if ivmode == "benbi":
        # 64-bit big-endian count of 16-byte blocks, from 1 (shift 9 - log2(16)).
        v = ((sector << 5) + 1) & 0xffffffffffffffff
        return int.from_bytes(v.to_bytes(8, "big"), "little") << 64
    return 0


_LANE_MASKS = {}


def _lane_masks(lanes, k):
    # (the low k bits of every 128-bit lane, the rest of every lane)
    key = (lanes, k)
    if key not in _LANE_MASKS:
        low = (1 << k) - 1
        rest = ((1 << 128) - 1) ^ low
        _LANE_MASKS[key] = (int.from_bytes(low.to_bytes(16, "little") * lanes, "little"),
                            int.from_bytes(rest.to_bytes(16, "little") * lanes, "little"))
    return _LANE_MASKS[key]


def _mulx(v, lanes, k):
    """Every 128-bit lane of v times x^k in GF(2^128) (k <= 64): the lanes move
    up k bits, and the k bits each pushes out come back in as x^128 = x^7+x^2+x+1."""
    low, rest = _lane_masks(lanes, k)
    hi = (v >> (128 - k)) & low
    return ((v << k) & rest) ^ hi ^ (hi << 1) ^ (hi << 2) ^ (hi << 7)


class SectorCipher:
    """Encrypt/decrypt whole crypto sectors in place (see new())."""

    def __init__(self, spec, key, sector_size=512, iv_large_sectors=False):
        from dmfw.crypto.aes import AES
        s = spec if isinstance(spec, Spec) else parse_spec(spec)
        if len(key) not in key_sizes(s):
            raise TargetError("Error decoding and setting key", EINVAL)
        if sector_size < 512 or sector_size > 4096 or sector_size & (sector_size - 1):
            raise TargetError("Invalid feature value for sector_size")
        self.spec = s
        self.sector_size = sector_size
        self.shift = 0
        while (512 << self.shift) < sector_size:
            self.shift += 1
        self.large = iv_large_sectors
        self.mode = s.chainmode
        self.ivmode = s.ivmode
        self.parts = []
        sub = len(key) // s.keycount
        for i in range(s.keycount):
            k = key[i * sub:(i + 1) * sub]
            if self.mode == "xts":
                h = sub // 2
                p = (AES(k[:h]), AES(k[h:]), None)
            else:
                essiv = None
                if self.ivmode == "essiv":
                    from dmfw.crypto import hashes
                    salt = hashes.digest(s.ivopts, bytes(k))
                    if len(salt) not in (16, 24, 32):
                        raise TargetError("Error decoding and setting key", EINVAL)
                    essiv = AES(salt)
                p = (AES(k), None, essiv)
            self.parts.append(p)

    def _sectors(self, buf, sector):
        n = self.sector_size
        if len(buf) % n:
            raise ValueError("crypt: buffer not a multiple of the sector size")
        mv = memoryview(buf)
        step = n >> 9
        for i in range(len(buf) // n):
            ivs = sector + i * step
            if self.large:
                ivs >>= self.shift
            yield mv[i * n:(i + 1) * n], ivs

    def _tweak_mask(self, part, ivs, n):
        # XTS: T_0 = E_K2(IV), T_j = T_0 * x^j in GF(2^128), little-endian;
        # the mask is all n/16 tweaks as one integer, 128 bits per lane. Known
        # lanes are doubled at once (each times x^lanes, see _mulx), so a 4 KiB
        # sector costs a few dozen big-integer operations, not 256 doublings.
        t = bytearray(_iv(self.ivmode, ivs).to_bytes(16, "little"))
        part[1].encrypt_blocks(t)
        m = int.from_bytes(t, "little")
        lanes = 1
        while lanes < n // 16:
            top = m
            done = 0
            while done < lanes:
                k = min(lanes - done, 64)
                top = _mulx(top, lanes, k)
                done += k
            m |= top << (128 * lanes)
            lanes *= 2
        return m & ((1 << (8 * n)) - 1)

    def xts(self, part, mv, ivs, encrypt):
        """XTS on one data unit `mv` (any multiple of 16 bytes) with IV sector
        ivs: XOR the tweak mask, one ECB call, XOR again."""
        n = len(mv)
        m = self._tweak_mask(part, ivs, n)
        mv[:] = (int.from_bytes(mv, "little") ^ m).to_bytes(n, "little")
        if encrypt:
            part[0].encrypt_blocks(mv)
        else:
            part[0].decrypt_blocks(mv)
        mv[:] = (int.from_bytes(mv, "little") ^ m).to_bytes(n, "little")

    def _cbc_iv(self, part, ivs):
        iv = _iv(self.ivmode, ivs)
        if part[2] is not None:
            b = bytearray(iv.to_bytes(16, "little"))
            part[2].encrypt_blocks(b)
            return bytes(b)
        return iv.to_bytes(16, "little")

    def _part(self, ivs):
        # Multi-key specs (cipher:N-...) pick the key part by IV sector, as
        # crypt_convert_block_skcipher does.
        return self.parts[ivs & (len(self.parts) - 1)]

    def decrypt(self, buf, sector):
        for mv, ivs in self._sectors(buf, sector):
            p = self._part(ivs)
            n = len(mv)
            if self.mode == "xts":
                self.xts(p, mv, ivs, False)
            elif self.mode == "cbc":
                # P_i = D(C_i) ^ C_{i-1}: the chain is IV || C without its last block.
                m = int.from_bytes(self._cbc_iv(p, ivs) + bytes(mv[:n - 16]), "little")
                p[0].decrypt_blocks(mv)
                mv[:] = (int.from_bytes(mv, "little") ^ m).to_bytes(n, "little")
            else:
                p[0].decrypt_blocks(mv)

    def encrypt(self, buf, sector):
        for mv, ivs in self._sectors(buf, sector):
            p = self._part(ivs)
            n = len(mv)
            if self.mode == "xts":
                self.xts(p, mv, ivs, True)
            elif self.mode == "cbc":
                # Each block depends on the previous ciphertext: block by block.
                prev = self._cbc_iv(p, ivs)
                enc = p[0].encrypt_blocks
                for o in range(0, n, 16):
                    blk = mv[o:o + 16]
                    blk[:] = (int.from_bytes(blk, "little")
                              ^ int.from_bytes(prev, "little")).to_bytes(16, "little")
                    enc(blk)
                    prev = bytes(blk)
            else:
                p[0].encrypt_blocks(mv)

    def wipe(self):
        for p in self.parts:
            for a in p:
                if a is not None:
                    a.wipe()
        self.parts = []


def new(spec, key, sector_size=512, iv_large_sectors=False):
    """A SectorCipher for `spec` (string or Spec) and `key` (bytes-like):
    encrypt(buf, sector)/decrypt(buf, sector) in place, len(buf) a multiple
    of sector_size, `sector` the IV sector (512-byte units) of buf's first
    crypto sector. LUKS keyslots: new("aes-xts-plain64", key).decrypt(buf, 0)."""
    return SectorCipher(spec, key, sector_size, iv_large_sectors)
