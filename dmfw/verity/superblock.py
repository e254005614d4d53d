# The 512-byte verity superblock cryptsetup writes at --hash-offset (the
# kernel never reads it; veritysetup turns it into table arguments).
# Checks and messages follow cryptsetup's VERITY_read_sb.

import struct
import binascii

from dmfw.errors import FormatError
from dmfw.crypto.hashes import DIGEST_SIZE

SB_SIZE = 512
MAGIC = b"verity\x00\x00"
MAX_SALT = 256
_FMT = "<8sII16s32sIIQH"       # up to salt_size; salt at 88


def block_size_ok(n):
    # cryptsetup's VERITY_BLOCK_SIZE_OK: a power of two, 512 B .. 512 KiB.
    return 512 <= n <= 512 * 1024 and not (n & (n - 1))


def uuid_str(b):
    h = binascii.hexlify(b).decode()
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def uuid_bytes(s):
    h = s.replace("-", "")
    if len(h) != 32 or len(s) != 36 or s[8] != "-" or s[13] != "-" \
            or s[18] != "-" or s[23] != "-":
        raise FormatError("Wrong VERITY UUID format provided.")
    try:
        return binascii.unhexlify(h)
    except ValueError:
        raise FormatError("Wrong VERITY UUID format provided.")


class Superblock:
    def __init__(self, hash_type=1, uuid=bytes(16), algorithm="sha256",
                 data_block_size=4096, hash_block_size=4096, data_blocks=0,
                 salt=b""):
        self.version = 1
        self.hash_type = hash_type
        self.uuid = uuid
        self.algorithm = algorithm
        self.data_block_size = data_block_size
        self.hash_block_size = hash_block_size
        self.data_blocks = data_blocks
        self.salt = salt

    def uuid_string(self):
        return uuid_str(self.uuid)

    def pack(self):
        alg = self.algorithm.encode()
        if len(alg) >= 32 or len(self.salt) > MAX_SALT:
            raise FormatError("VERITY header corrupted.")
        head = struct.pack(_FMT, MAGIC, 1, self.hash_type, self.uuid,
                           alg + bytes(32 - len(alg)), self.data_block_size,
                           self.hash_block_size, self.data_blocks,
                           len(self.salt))
        out = bytearray(SB_SIZE)
        out[:len(head)] = head
        out[88:88 + len(self.salt)] = self.salt
        return bytes(out)


def parse(buf, where="device"):
    """512 bytes -> Superblock, or FormatError with cryptsetup's message."""
    buf = bytes(buf)
    if len(buf) < SB_SIZE or buf[:8] != MAGIC:
        raise FormatError("Device %s is not a valid VERITY device." % where)
    (_m, version, hash_type, uuid, alg, dbs, hbs, nblocks,
     salt_size) = struct.unpack(_FMT, buf[:struct.calcsize(_FMT)])
    if version != 1:
        raise FormatError("Unsupported VERITY version %d." % version)
    if hash_type > 1:
        raise FormatError("Unsupported VERITY hash type %d." % hash_type)
    if not block_size_ok(dbs) or not block_size_ok(hbs):
        raise FormatError("Unsupported VERITY block size.")
    end = alg.find(b"\x00")
    name = alg if end < 0 else alg[:end]
    try:
        name = name.decode()
    except UnicodeError:
        name = "?"
    if name not in DIGEST_SIZE:
        raise FormatError("Hash algorithm %s not supported." % name)
    if salt_size > MAX_SALT:
        raise FormatError("VERITY header corrupted.")
    return Superblock(hash_type, uuid, name, dbs, hbs, nblocks,
                      buf[88:88 + salt_size])
