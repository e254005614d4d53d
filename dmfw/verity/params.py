# Verity parameters (cryptsetup's crypt_params_verity) and the table line
# libcryptsetup builds from them (get_dm_verity_params()): the format side of
# veritysetup, shared by the shell command and by DDI auto-setup.

import binascii

from dmfw.errors import DMError, EINVAL
from dmfw.verity import superblock as sbmod
from dmfw.verity.tree import Geometry


class Params:
    """crypt_params_verity: from the superblock or from the options."""

    def __init__(self):
        self.hash_type = 1
        self.hash_name = "sha256"
        self.data_bs = 4096
        self.hash_bs = 4096
        self.data_blocks = 0
        self.salt = b""
        self.uuid = None
        self.hash_offset = 0
        self.no_sb = False
        self.fec_dev = None
        self.fec_offset = 0
        self.fec_roots = 0

    def hash_start(self):
        # VERITY_hash_offset_block()
        if self.no_sb:
            return self.hash_offset // self.hash_bs
        return (self.hash_offset + sbmod.SB_SIZE + self.hash_bs - 1) // self.hash_bs

    def geometry(self):
        try:
            return Geometry(self.hash_type, self.data_bs, self.hash_bs,
                            self.data_blocks, self.hash_start(), self.hash_name,
                            self.salt)
        except DMError as e:
            raise DMError(EINVAL, e.msg)

    def fec_blocks(self, hash_dev):
        # VERITY_FEC_blocks(): the hash device after hash_start, or up to
        # the FEC area when FEC lives on the hash device.
        if self.fec_dev is hash_dev:
            blocks = self.fec_offset
        else:
            blocks = hash_dev.size_bytes()
        blocks //= self.data_bs
        if blocks:
            blocks -= self.hash_start()
        return blocks + self.data_blocks

    def fec_layout(self, hash_dev):
        from dmfw.verity import fec
        if self.data_bs != self.hash_bs:
            raise DMError(EINVAL, "Block sizes must match for FEC.")
        if not fec.roots_ok(self.fec_roots):
            raise DMError(EINVAL, "Invalid number of parity bytes.")
        return fec.Layout(self.data_bs, self.fec_roots, self.fec_blocks(hash_dev),
                          self.data_blocks, self.hash_start(),
                          self.fec_offset // self.data_bs)


def from_superblock(hash_dev, hash_offset=0, where=None, p=None):
    """crypt_load(CRYPT_VERITY): the parameters in the superblock at
    `hash_offset` (bytes, a multiple of 512) of `hash_dev`; `where` names
    the device in error messages. Fills `p` (a Params) when given."""
    if hash_offset % 512:
        raise DMError(EINVAL, "Unsupported VERITY hash offset.")
    if p is None:
        p = Params()
    p.hash_offset = hash_offset
    buf = hash_dev.pread(hash_offset, sbmod.SB_SIZE)
    sb = sbmod.parse(buf, where or "/dev/" + hash_dev.name)
    p.hash_type = sb.hash_type
    p.hash_name = sb.algorithm
    p.data_bs = sb.data_block_size
    p.hash_bs = sb.hash_block_size
    p.data_blocks = sb.data_blocks
    p.salt = sb.salt
    p.uuid = sb.uuid_string()
    return p


def table_line(p, data_dev, hash_dev, root, flags=(), sig_desc=None):
    """The verity table libcryptsetup's get_dm_verity_params() builds."""
    line = "0 %d verity %d %s %s %d %d %d %d %s %s %s" % (
        p.data_blocks * p.data_bs // 512, p.hash_type, data_dev.devno(),
        hash_dev.devno(), p.data_bs, p.hash_bs, p.data_blocks, p.hash_start(),
        p.hash_name, _hexs(root), _hexs(p.salt) if p.salt else "-")
    opts = list(flags)
    n = len(opts)
    if p.fec_dev is not None:
        opts.append("use_fec_from_device %s fec_start %d fec_blocks %d fec_roots %d"
                    % (p.fec_dev.devno(), p.fec_offset // p.hash_bs,
                       p.fec_blocks(hash_dev), p.fec_roots))
        n += 8
    if sig_desc is not None:
        opts.append("root_hash_sig_key_desc " + sig_desc)
        n += 2
    if opts:
        line += " %d %s" % (n, " ".join(opts))
    return line



def _hexs(b):
    return binascii.hexlify(b).decode()


class ActiveVerity:
    """A verity table line read back, as libcryptsetup's
    _dm_target_query_verity reads the kernel's: what `veritysetup status`
    shows comes from here and from the status word, never from the target."""

    def __init__(self):
        self.version = 1
        self.data_dev = self.hash_dev = self.fec_dev = None     # "MAJ:MIN"
        self.data_bs = self.hash_bs = 4096
        self.data_blocks = self.hash_start = 0
        self.alg = None
        self.root = self.salt = None        # hex text; salt None for "-"
        self.flags = []                     # optional words, in table order
        self.fec_start = self.fec_blocks = 0
        self.fec_roots = 0
        self.sig_key_desc = None


def parse_table(line):
    """The argument part of a verity `dmsetup table` line -> ActiveVerity.
    FormatError on anything that is not one."""
    from dmfw.errors import FormatError
    w = line.split()
    if len(w) < 10:
        raise FormatError("not a verity table: %s" % line)
    a = ActiveVerity()
    try:
        a.version = int(w[0])
        a.data_dev, a.hash_dev = w[1], w[2]
        a.data_bs, a.hash_bs = int(w[3]), int(w[4])
        a.data_blocks, a.hash_start = int(w[5]), int(w[6])
        a.alg, a.root = w[7], w[8]
        a.salt = None if w[9] == "-" else w[9]
        i = 10
        n = int(w[i]) if len(w) > i else 0
        i += 1
        end = i + n
        if end > len(w):
            raise ValueError
        while i < end:
            k = w[i]
            i += 1
            if k == "use_fec_from_device":
                a.fec_dev = w[i]
                i += 1
            elif k in ("fec_start", "fec_blocks", "fec_roots"):
                setattr(a, k, int(w[i]))
                i += 1
            elif k == "root_hash_sig_key_desc":
                a.sig_key_desc = w[i]
                i += 1
            else:
                a.flags.append(k)
    except (ValueError, IndexError):
        raise FormatError("not a verity table: %s" % line)
    return a
