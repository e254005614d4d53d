# veritysetup format|verify|open|close|status|dump, printing what
# cryptsetup's veritysetup 2.6/2.7 prints. `open` builds the table line
# libcryptsetup loads (lib/verity/verity.c, libdevmapper.c) and hands it to
# the device mapper; nothing reads data behind the mapper's back.
#
# --root-hash-signature FILE: like libcryptsetup, the signature is put in
# the keyring as user key "cryptsetup:<UUID>-<NAME>" (or
# "cryptsetup:<NAME>" without a superblock), the table names it with
# root_hash_sig_key_desc, and the key is unlinked again after activation.

import binascii

from dmfw.errors import DMError, UsageError, EINVAL, EPERM, ENOMEM, ENODEV, \
    EBUSY
from dmfw.verity import superblock as sbmod
from dmfw.verity.tree import build, verify, VerifyFailed
from dmfw.verity import params
from dmfw.shell.options import getopt
from dmfw.shell.cryptcommon import Fail, dm_create
from dmfw.verity.params import table_line
from dmfw.crypto.hashes import DIGEST_SIZE

USAGE = "Usage: veritysetup [OPTION...] <action> <action-specific>"

# option -> takes a value
_OPTS = {
    "--hash": 1, "-h": 1, "--data-block-size": 1, "--hash-block-size": 1,
    "--data-blocks": 1, "--hash-offset": 1, "--salt": 1, "-s": 1,
    "--uuid": 1, "--format": 1, "--no-superblock": 0, "--fec-device": 1,
    "--fec-offset": 1, "--fec-roots": 1, "--root-hash-file": 1,
    "--root-hash-signature": 1, "--ignore-corruption": 0,
    "--restart-on-corruption": 0, "--panic-on-corruption": 0,
    "--error-as-corruption": 0, "--ignore-zero-blocks": 0,
    "--check-at-most-once": 0, "--use-tasklets": 0, "-v": 0,
    "--verbose": 0, "--debug": 0, "--deferred": 0, "--cancel-deferred": 0,
    "--shared": 0, "--threads": 1, "-q": 0, "--batch-mode": 0, "--help": 0, "-?": 0,
    "--usage": 0, "--version": 0, "-V": 0,
}
_ALIAS = {"-h": "--hash", "-s": "--salt", "-v": "--verbose", "-q": "--batch-mode",
          "-?": "--help", "-V": "--version"}

VERSION = "veritysetup 2.7.5"
# cryptsetup's popt table as --help prints it (-h is --hash there, so help
# is -? and --help only), then the actions and the compiled-in defaults.
HELP = VERSION + """ flags: KEYRING
""" + USAGE + """

Help options:
  -?, --help                           Show this help message
      --usage                          Display brief usage
  -V, --version                        Print package version
      --batch-mode                     Do not ask for confirmation
      --cancel-deferred                Cancel a previously set deferred device
                                       removal
      --check-at-most-once             Verify data block only the first time
                                       it is read
      --data-block-size=bytes          Block size on the data device
      --data-blocks=blocks             The number of blocks in the data file
      --debug                          Show debug messages
      --deferred                       Device removal is deferred until the
                                       last user closes it
      --error-as-corruption            Handle I/O errors as corruption
      --fec-device=path                Path to device with error correction
                                       data
      --fec-offset=bytes               Starting offset on the FEC device
      --fec-roots=bytes                FEC parity bytes
      --format=number                  Format type (1 - normal, 0 - original
                                       Chrome OS)
  -h, --hash=string                    Hash algorithm
      --hash-block-size=bytes          Block size on the hash device
      --hash-offset=bytes              Starting offset on the hash device
      --ignore-corruption              Ignore corruption, log it only
      --ignore-zero-blocks             Do not verify zeroed blocks
      --no-superblock                  Do not use verity superblock
      --panic-on-corruption            Panic kernel if corruption is detected
      --restart-on-corruption          Restart kernel if corruption is detected
      --root-hash-file=STRING          Path to root hash file
      --root-hash-signature=STRING     Path to root hash signature file
  -s, --salt=hex string                Salt
      --shared                         Share device with another
                                       non-overlapping crypt segment
      --threads=number                 Workers hashing the data area in
                                       format and verify (dmfw; default: one
                                       per CPU)
      --use-tasklets                   Use kernel tasklets for performance
      --uuid=STRING                    UUID for device to use
  -v, --verbose                        Shows more detailed error messages

<action> is one of:
	format <data_device> <hash_device> - format device
	verify <data_device> <hash_device> [<root_hash>] - verify device
	open <data_device> <name> <hash_device> [<root_hash>] - open device as <name>
	close <name> - close device (remove mapping)
	status <name> - show active device status
	dump <hash_device> - show on-disk information

<name> is the device to create under /dev/mapper
<data_device> is the data device
<hash_device> is the device containing verification data
<root_hash> hash of the root node on <hash_device>

Default compiled-in dm-verity parameters:
	Hash: sha256, Data block (bytes): 4096, Hash block (bytes): 4096, Salt size: 32, \
Hash format: 1
"""

DEFAULTS = {"--hash": "sha256", "--data-block-size": "4096",
            "--hash-block-size": "4096", "--format": "1", "--hash-offset": "0",
            "--fec-offset": "0", "--fec-roots": "2"}
DEFAULT_SALT_SIZE = 32

# libcryptsetup error -> veritysetup exit code (translate_errno()).
_EXIT = {EINVAL: 1, EPERM: 2, ENOMEM: 3, ENODEV: 4, EBUSY: 5}
_WHY = {1: "wrong or missing parameters", 2: "no permission or bad passphrase",
        3: "out of memory", 4: "wrong device or file specified",
        5: "device already exists or device is busy"}


def _parse(argv):
    return getopt(argv, _OPTS, _ALIAS, "veritysetup: %s: unknown option",
                  "veritysetup: option '%s' requires an argument")


def _num(opts, key, what=None):
    v = opts.get(key, DEFAULTS.get(key))
    if v is None:
        return None
    from dmfw.numbers import is_decimal
    if not is_decimal(v):
        raise Fail(EINVAL, ["Invalid %s value." % (what or key)])
    return int(v)


def _device(sh, spec, write=False, create=False, loop=False):
    # A hash image is created here, with veritysetup's own message; an
    # image file for a table goes on a loop device (read-only) so the
    # table can name it as major:minor, as veritysetup open does.
    if create and not spec.startswith("/dev/") and sh.devices.find(spec) is None:
        try:
            open(spec, "ab").close()
        except OSError:
            raise Fail(EINVAL, ["Cannot create hash image %s for writing." % spec])
    try:
        return sh.resolve(spec, image="loop" if loop else "file", write=write)
    except DMError:
        raise Fail(EINVAL, ["Device %s does not exist or access denied." % spec])


def _grow(dev, nbytes):
    """Host files grow like veritysetup's hash image; disks cannot."""
    if dev.size_bytes() >= nbytes:
        return
    f = getattr(dev, "f", None)
    if f is None:
        raise Fail(EINVAL, ["Device %s is too small." % dev.name])
    f.seek(nbytes - 1)
    f.write(b"\x00")
    f.flush()
    dev.nr_sectors = nbytes >> 9


def _block_size(opts, key):
    n = _num(opts, key)
    if not sbmod.block_size_ok(n):
        raise Fail(EINVAL, ["Invalid %s." % ("data block size" if "data" in key
                                            else "hash block size")])
    return n


class Params(params.Params):
    """The shared parameters, with their refusals in veritysetup's form."""

    def geometry(self):
        try:
            return params.Params.geometry(self)
        except DMError as e:
            raise Fail(EINVAL, [e.msg])

    def fec_layout(self, hash_dev):
        try:
            return params.Params.fec_layout(self, hash_dev)
        except DMError as e:
            raise Fail(EINVAL, [e.msg])


def _from_options(sh, opts, data_dev, creating):
    p = Params()
    p.no_sb = bool(opts.get("--no-superblock"))
    p.hash_type = _num(opts, "--format")
    if p.hash_type > 1:
        raise Fail(EINVAL, ["Unsupported VERITY hash type %d." % p.hash_type])
    p.hash_name = opts.get("--hash", "sha256").lower()
    if p.hash_name not in DIGEST_SIZE:
        raise Fail(EINVAL, ["Hash algorithm %s not supported." % p.hash_name])
    p.data_bs = _block_size(opts, "--data-block-size")
    p.hash_bs = _block_size(opts, "--hash-block-size")
    p.hash_offset = _num(opts, "--hash-offset")
    if p.hash_offset % 512:
        raise Fail(EINVAL, ["Unsupported VERITY hash offset."])
    salt = opts.get("--salt")
    if salt == "-":
        p.salt = b""
    elif salt is not None:
        try:
            p.salt = binascii.unhexlify(salt)
        except (ValueError, TypeError):
            raise Fail(EINVAL, ["Invalid salt string specified."])
        if len(p.salt) > sbmod.MAX_SALT:
            raise Fail(EINVAL, ["Invalid salt string specified."])
    elif creating:
        p.salt = _random(DEFAULT_SALT_SIZE)
    n = _num(opts, "--data-blocks")
    if n is None:
        n = data_dev.size_bytes() // p.data_bs
    p.data_blocks = n
    if "--uuid" in opts:
        p.uuid = opts["--uuid"]
        sbmod.uuid_bytes(p.uuid)
    return p


# More workers than this only cost forks (each takes 16 hash blocks at least).
MAX_THREADS = 256


def _threads(opts):
    """--threads N (dmfw's own option): worker processes for the data
    level on CPython; one CPU each by default. MicroPython hashes on one."""
    v = opts.get("--threads")
    if v is None:
        try:
            import os
            return os.cpu_count() or 1
        except (ImportError, AttributeError):
            return 1
    from dmfw.numbers import is_decimal
    if not is_decimal(v):
        # popt's refusal of a non-number, as for cryptsetup's own options.
        raise Fail(EINVAL, ["veritysetup: invalid numeric value"])
    n = int(v)
    if n < 1 or n > MAX_THREADS:
        raise Fail(EINVAL, ["Invalid number of threads."])
    return n


def _random(n):
    try:
        import os
        return os.urandom(n)
    except (ImportError, AttributeError):
        import random
        return bytes([random.getrandbits(8) for _ in range(n)])


def _uuid4():
    b = bytearray(_random(16))
    b[6] = (b[6] & 0x0f) | 0x40
    b[8] = (b[8] & 0x3f) | 0x80
    return sbmod.uuid_str(bytes(b))


def _load(sh, opts, hash_dev, data_dev=None):
    """crypt_load(CRYPT_VERITY) or, with --no-superblock, the options."""
    if opts.get("--no-superblock"):
        return _from_options(sh, opts, data_dev, False)
    try:
        return params.from_superblock(hash_dev, _num(opts, "--hash-offset"),
                                      _path(hash_dev), Params())
    except DMError as e:
        raise Fail(EINVAL, [e.msg])


def _fec_opts(sh, opts, p, hash_dev, write=False, loop=False):
    if "--fec-device" not in opts:
        return
    spec = opts["--fec-device"]
    dev = sh.devices.find(spec)
    if dev is None:
        dev = hash_dev if getattr(hash_dev, "path", None) == spec else \
            _device(sh, spec, write, create=write, loop=loop)
    p.fec_dev = dev
    p.fec_offset = _num(opts, "--fec-offset")
    p.fec_roots = _num(opts, "--fec-roots")


def _path(dev):
    return getattr(dev, "path", None) if not dev.major else "/dev/" + dev.name


def _hex(b):
    return binascii.hexlify(b).decode()


def _dump(sh, p, hash_dev, root=None):
    """crypt_dump() for VERITY (veritysetup 2.6.1 layout)."""
    geo = p.geometry()
    hb = geo.hash_blocks()
    w = sh.write
    w("VERITY header information for %s\n" % _path(hash_dev))
    w("UUID:            \t%s\n" % (p.uuid or ""))
    w("Hash type:       \t%d\n" % p.hash_type)
    w("Data blocks:     \t%d\n" % p.data_blocks)
    w("Data block size: \t%d\n" % p.data_bs)
    w("Hash blocks:     \t%d\n" % hb)
    w("Hash block size: \t%d\n" % p.hash_bs)
    w("Hash algorithm:  \t%s\n" % p.hash_name)
    rs_blocks = 0
    if p.fec_dev is not None and p.fec_roots:
        l = p.fec_layout(hash_dev)
        rs_blocks = l.rounds * l.roots
        w("FEC RS roots:   \t%d\n" % p.fec_roots)
        w("FEC blocks:     \t%d\n" % rs_blocks)
    w("Salt:            \t%s\n" % (_hex(p.salt) if p.salt else "-"))
    if root is not None:
        w("Root hash:      \t%s\n" % _hex(root))
    if p.hash_offset == 0:
        w("Hash device size: \t%d [bytes]\n" % ((p.hash_start() + hb) * p.hash_bs))
    if p.fec_dev is not None and rs_blocks and p.fec_offset == 0 and \
            p.fec_dev is not hash_dev:
        w("FEC device size: \t%d [bytes]\n" % (rs_blocks * p.data_bs))


def action_format(sh, opts, args):
    if len(args) != 2:
        raise UsageError("veritysetup format <data_device> <hash_device>")
    workers = _threads(opts)
    data_dev = _device(sh, args[0])
    hash_dev = _device(sh, args[1], write=True, create=True)
    p = _from_options(sh, opts, data_dev, True)
    if not p.no_sb and p.uuid is None:
        p.uuid = _uuid4()
    if p.data_blocks * p.data_bs > data_dev.size_bytes() or not p.data_blocks:
        raise Fail(EINVAL, ["Device %s is too small." % _path(data_dev)])
    geo = p.geometry()
    _grow(hash_dev, (geo.hash_end) * p.hash_bs)
    if not p.no_sb:
        sb = sbmod.Superblock(p.hash_type, sbmod.uuid_bytes(p.uuid), p.hash_name,
                              p.data_bs, p.hash_bs, p.data_blocks, p.salt)
        hash_dev.writeblocks(p.hash_offset >> 9, sb.pack())
    root = build(geo, data_dev, hash_dev, workers=workers)
    _fec_opts(sh, opts, p, hash_dev, write=True)
    if p.fec_dev is not None:
        from dmfw.verity import fec
        l = p.fec_layout(hash_dev)
        _grow(p.fec_dev, p.fec_offset + l.parity_bytes())
        fec.encode(l, fec.Source(l, data_dev, hash_dev), p.fec_dev, p.fec_offset,
                   workers)
    hash_dev.sync()
    if p.fec_dev is not None:
        p.fec_dev.sync()
    _dump(sh, p, hash_dev, root)
    if "--root-hash-file" in opts:
        _write_file(opts["--root-hash-file"], _hex(root))
    return 0


def _write_file(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError:
        raise Fail(EINVAL, ["Cannot create root hash file %s for writing." % path])


def _root(sh, opts, args, idx, p):
    size = DIGEST_SIZE[p.hash_name]
    if "--root-hash-file" in opts:
        path = opts["--root-hash-file"]
        try:
            with open(path, "rb") as f:
                text = f.read(2 * size)
        except OSError:
            raise Fail(EINVAL, ["Cannot read root hash file %s." % path])
        if len(text) < 2 * size:
            raise Fail(EINVAL, ["Invalid root hash file %s." % path])
        text = text.decode()
    elif len(args) > idx:
        text = args[idx]
    else:
        raise Fail(EINVAL, ["Command requires <root_hash> or --root-hash-file "
                            "option as argument."])
    try:
        root = binascii.unhexlify(text)
    except (ValueError, TypeError):
        root = b""
    if len(root) != size:
        raise Fail(EINVAL, ["Invalid root hash string specified."])
    return root


def action_verify(sh, opts, args):
    if len(args) < 2:
        raise UsageError("veritysetup verify <data_device> <hash_device> [<root_hash>]")
    workers = _threads(opts)
    data_dev = _device(sh, args[0])
    hash_dev = _device(sh, args[1])
    p = _load(sh, opts, hash_dev, data_dev)
    root = _root(sh, opts, args, 2, p)
    if "--root-hash-signature" in opts:
        raise Fail(EINVAL, ["Root hash signature verification is not supported."])
    _fec_opts(sh, opts, p, hash_dev)
    geo = p.geometry()
    try:
        verify(geo, data_dev, hash_dev, root, workers=workers)
    except VerifyFailed as e:
        if p.fec_dev is None:
            raise Fail(EPERM, e.lines)
        for line in e.lines:
            sh.error(line)
        from dmfw.verity import fec
        l = p.fec_layout(hash_dev)
        try:
            n = fec.check_all(l, fec.Source(l, data_dev, hash_dev), p.fec_dev)
        except DMError:
            raise Fail(EPERM, ["Errors cannot be repaired with FEC device."])
        if n:
            sh.error("Found %d repairable errors with FEC device." % n)
    return 0


def _flags(opts):
    out = []
    if opts.get("--ignore-corruption") and not (opts.get("--restart-on-corruption")
                                                or opts.get("--panic-on-corruption")):
        out.append("ignore_corruption")
    if opts.get("--restart-on-corruption"):
        out.append("restart_on_corruption")
        if opts.get("--error-as-corruption"):
            out.append("restart_on_error")
    elif opts.get("--panic-on-corruption"):
        out.append("panic_on_corruption")
        if opts.get("--error-as-corruption"):
            out.append("panic_on_error")
    if opts.get("--ignore-zero-blocks"):
        out.append("ignore_zero_blocks")
    if opts.get("--check-at-most-once"):
        out.append("check_at_most_once")
    if opts.get("--use-tasklets"):
        out.append("try_verify_in_tasklet")
    return out


def action_open(sh, opts, args):
    if len(args) < 3:
        raise UsageError("veritysetup open <data_device> <name> <hash_device> [<root_hash>]")
    if len(args) < 4 and "--root-hash-file" not in opts:
        raise Fail(EINVAL, ["Command requires <root_hash> or --root-hash-file "
                            "option as argument."])
    name = args[1]
    if sh.dm.find(name) is not None:
        raise Fail(EBUSY, ["Device %s already exists." % name])
    data_dev = _device(sh, args[0], loop=True)
    hash_dev = data_dev if args[2] == args[0] else _device(sh, args[2], loop=True)
    p = _load(sh, opts, hash_dev, data_dev)
    _fec_opts(sh, opts, p, hash_dev, loop=True)
    root = _root(sh, opts, args, 3, p)
    if p.data_blocks * p.data_bs > data_dev.size_bytes():
        raise Fail(EINVAL, ["Device %s is too small." % _path(data_dev)])
    sig_desc = None
    from dmfw.keyring import get_keyring
    kr = get_keyring(sh.dm)
    if "--root-hash-signature" in opts:
        path = opts["--root-hash-signature"]
        try:
            sig = sh.read_input(path)
        except DMError:
            sig = b""
        if not sig:
            raise Fail(EINVAL, ["Invalid signature file %s." % path])
        sig_desc = "cryptsetup:%s%s%s" % (p.uuid or "", "-" if p.uuid else "", name)
        kr.add_user_key(sig_desc, sig)
    line = table_line(p, data_dev, hash_dev, root, _flags(opts), sig_desc)
    uuid = "CRYPT-VERITY-%s%s%s" % (p.uuid.replace("-", "") if p.uuid else "",
                                    "-" if p.uuid else "", name)
    try:
        md = dm_create(sh, name, uuid, line, True)
    finally:
        if sig_desc is not None:
            kr.unlink(sig_desc)
    if md.live.targets[0].status() != "V":
        sh.error("Verity device detected corruption after activation.")
    return 0


def _verity_target(sh, name):
    md = sh.dm.find(name)
    if md is None or md.live is None or len(md.live.targets) != 1 or \
            md.live.targets[0].name != "verity":
        return md, None
    return md, md.live.targets[0]


def action_close(sh, opts, args):
    if len(args) != 1:
        raise UsageError("veritysetup close <name>")
    md = sh.dm.find(args[0])
    if md is None:
        raise Fail(ENODEV, ["Device %s is not active." % args[0]])
    sh.dm.remove(args[0])
    return 0


def action_status(sh, opts, args):
    if len(args) != 1:
        raise UsageError("veritysetup status <name>")
    name = args[0]
    if name.startswith("/dev/mapper/"):
        name = name[12:]
    md, t = _verity_target(sh, name)
    w = sh.write
    if md is None:
        w("/dev/mapper/%s is inactive.\n" % name)
        return _EXIT[ENODEV]
    w("/dev/mapper/%s is active%s.\n" % (name, " and is in use" if md.open_count() else ""))
    if t is None:
        w("  type:        n/a\n")
        return 0
    # What libcryptsetup knows of an active device: its table line and
    # its status word (V verified, C corrupted).
    from dmfw.verity.params import parse_table
    a = parse_table(t.params())
    data_dev = sh.devices.get(a.data_dev)
    hash_dev = sh.devices.get(a.hash_dev)
    w("  type:        VERITY\n")
    w("  status:      %s%s\n" % ("corrupted" if t.status() == "C" else "verified",
                                 " (with signature)" if a.sig_key_desc else ""))
    w("  hash type:   %d\n" % a.version)
    w("  data block:  %d\n" % a.data_bs)
    w("  hash block:  %d\n" % a.hash_bs)
    w("  hash name:   %s\n" % a.alg)
    w("  salt:        %s\n" % (a.salt or "-"))
    w("  data device: /dev/%s\n" % data_dev.name)
    _loop_line(w, "data", data_dev)
    w("  size:        %d sectors\n" % md.nr_sectors)
    w("  mode:        readonly\n")
    w("  hash device: /dev/%s\n" % hash_dev.name)
    _loop_line(w, "hash", hash_dev)
    w("  hash offset: %d sectors\n" % (a.hash_start * a.hash_bs // 512))
    if a.fec_dev is not None:
        fec_dev = sh.devices.get(a.fec_dev)
        w("  FEC device:  /dev/%s\n" % fec_dev.name)
        _loop_line(w, "FEC", fec_dev, "  FEC loop:    %s\n")
        w("  FEC offset:  %d sectors\n" % (a.fec_start * a.hash_bs // 512))
        w("  FEC roots:   %d\n" % a.fec_roots)
    w("  root hash:   %s\n" % a.root)
    # cryptsetup's flag words, in its order (restart/panic_on_error are
    # not among those it prints).
    fl = ""
    for word, sep in (("ignore_corruption", " "), ("restart_on_corruption", " "),
                      ("panic_on_corruption", " "), ("ignore_zero_blocks", " "),
                      ("check_at_most_once", ""), ("try_verify_in_tasklet", "")):
        if word in a.flags:
            fl += word + sep
    if fl:
        w("  flags:       %s\n" % fl)
    return 0


def _loop_line(w, what, dev, fmt="  %s loop:   %s\n"):
    if dev.name.startswith("loop") and getattr(dev, "path", None):
        w(fmt % ((what, dev.path) if fmt.count("%s") == 2 else (dev.path,)))


def action_dump(sh, opts, args):
    if len(args) != 1:
        raise UsageError("veritysetup dump <hash_device>")
    hash_dev = _device(sh, args[0])
    try:
        p = _load(sh, dict(opts, **{"--no-superblock": False}), hash_dev)
    except Fail:
        raise Fail(EINVAL, ["Device %s is not a valid VERITY device." % args[0]])
    _fec_opts(sh, opts, p, hash_dev)
    _dump(sh, p, hash_dev)
    return 0


ACTIONS = {"format": action_format, "verify": action_verify, "open": action_open,
           "create": action_open, "close": action_close, "remove": action_close,
           "status": action_status, "dump": action_dump}


def main(sh, argv):
    opts, args = _parse(argv)
    if "--help" in opts:
        sh.write(HELP)
        return 0
    if "--usage" in opts:
        sh.write(USAGE + "\n")
        return 0
    if "--version" in opts:
        sh.write(VERSION + "\n")
        return 0
    if not args:
        sh.error(USAGE)
        return 1
    fn = ACTIONS.get(args[0])
    if fn is None:
        sh.error("Unknown action.")
        return 1
    try:
        return fn(sh, opts, args[1:])
    except Fail as f:
        for line in f.lines:
            sh.error(line)
        code = _EXIT.get(f.errno, 1)
        if opts.get("--verbose"):
            sh.error("Command failed with code %d (%s)." % (-code, _WHY[code]))
        return code
