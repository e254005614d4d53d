# cryptsetup open|luksOpen|close|status|luksDump|isLuks|luksUUID with the
# words, output and exit codes of cryptsetup 2.7. `open` unlocks a keyslot
# (dmfw/luks) and hands the crypt table line libcryptsetup would load to
# the device mapper; a LUKS2 volume key goes through the firmware keyring
# as the logon key "cryptsetup:<uuid>-d<digest>", as 2.7 puts it in the
# kernel keyring, so `dmsetup table` reads the same as the kernel's.

import binascii

from dmfw.errors import DMError, UsageError, EINVAL, EPERM, ENOMEM, ENODEV, \
    EBUSY, ENOENT
from dmfw.shell.options import getopt
from dmfw.shell.cryptcommon import Fail, dm_create

VERSION = "cryptsetup 2.7.5"
# popt's usage starts so; the option list that follows it is not copied.
USAGE = "Usage: cryptsetup [-?VqrvyN] [-?|--help] [--usage] [-V|--version]"

_OPTS = {
    "--type": 1, "-M": 1, "--key-file": 1, "-d": 1, "--keyfile-offset": 1,
    "--keyfile-size": 1, "-l": 1, "--key-slot": 1, "-S": 1, "--readonly": 0,
    "-r": 0, "--allow-discards": 0, "--header": 1, "--test-passphrase": 0,
    "--tries": 1, "-T": 1, "--verbose": 0, "-v": 0, "--debug": 0,
    "--batch-mode": 0, "-q": 0, "--help": 0, "-?": 0, "--usage": 0,
    "--version": 0, "-V": 0, "--cipher": 1, "-c": 1, "--key-size": 1, "-s": 1,
    "--hash": 1, "-h": 1, "--offset": 1, "-o": 1, "--skip": 1, "-p": 1,
    "--size": 1, "-b": 1, "--sector-size": 1, "--perf-same_cpu_crypt": 0,
    "--perf-submit_from_crypt_cpus": 0, "--perf-no_read_workqueue": 0,
    "--perf-no_write_workqueue": 0, "--disable-keyring": 0, "--disable-blkid": 0,
    "--iv-large-sectors": 0, "--timeout": 1, "-t": 1, "--dump-json-metadata": 0,
    "--disable-locks": 0, "--disable-external-tokens": 0, "--token-only": 0,
}
_ALIAS = {"-M": "--type", "-d": "--key-file", "-l": "--keyfile-size",
          "-S": "--key-slot", "-r": "--readonly", "-T": "--tries", "-v": "--verbose",
          "-q": "--batch-mode", "-?": "--help", "-V": "--version", "-c": "--cipher",
          "-s": "--key-size", "-h": "--hash", "-o": "--offset", "-p": "--skip",
          "-b": "--size", "-t": "--timeout"}

# translate_errno() in src/cryptsetup.c.
_EXIT = {EINVAL: 1, ENOENT: 1, EPERM: 2, ENOMEM: 3, ENODEV: 4, EBUSY: 5}
_WHY = {1: "wrong or missing parameters", 2: "no permission or bad passphrase",
        3: "out of memory", 4: "wrong device or file specified",
        5: "device already exists or device is busy"}
KEYFILE_MAX = 8192 * 1024
PASSPHRASE_MAX = 512


# Numeric options: popt refuses a bad value before any action runs.
_NUMERIC = ("--keyfile-offset", "--keyfile-size", "--key-slot", "--tries", "--offset",
            "--skip", "--size", "--key-size", "--sector-size", "--timeout")


def _num(opts, key, default=None):
    v = opts.get(key)
    return default if v is None else int(v)


def _check_numbers(opts):
    from dmfw.numbers import is_decimal
    for k in _NUMERIC:
        if k in opts and not is_decimal(opts[k]):
            raise Fail(EINVAL, ["invalid numeric value"], usage=True)
    # cryptsetup 2.7's main() refuses these before any action runs.
    if "--sector-size" in opts and _num(opts, "--sector-size") not in (512, 1024, 2048, 4096):
        raise Fail(EINVAL, ["Unsupported encryption sector size."], usage=True)


def _device(sh, spec, write=False):
    try:
        return sh.resolve(spec, image="loop", write=write)
    except (DMError, OSError):
        if write:
            # A read-only image or disk is opened read-only, as losetup falls
            # back; a missing one is refused below.
            try:
                return sh.resolve(spec, image="loop")
            except (DMError, OSError):
                pass
        raise Fail(ENODEV, ["Device %s does not exist or access denied." % spec])


def _header_dev(sh, opts, spec):
    """The device holding the LUKS header: --header FILE or DEV itself."""
    path = opts.get("--header")
    if path is None:
        return None
    try:
        return sh.resolve(path, image="file")
    except (DMError, OSError):
        raise Fail(ENODEV, ["Device %s does not exist or access denied." % path])


def _load(dev, path, want=None):
    from dmfw.luks import load, NotLuks
    try:
        return load(dev, want)
    except NotLuks as e:
        lines = ["Device %s is not a valid LUKS device." % path]
        if e.msg and e.msg.startswith(("LUKS keyslot", "Requested LUKS")):
            lines = [e.msg] + lines
        raise Fail(EINVAL, lines)
    except DMError:
        raise Fail(EINVAL, ["Device %s is not a valid LUKS device." % path])


def _wipe(b):
    if isinstance(b, bytearray):
        b[:] = bytes(len(b))


# -- passphrases and key files

def _read_keyfile(sh, opts):
    path = opts["--key-file"]
    off = _num(opts, "--keyfile-offset", 0)
    size = _num(opts, "--keyfile-size", 0)
    try:
        data = bytearray(sh.read_input(path))
    except (DMError, OSError):
        raise Fail(EINVAL, ["Failed to open key file."])
    try:
        if off > len(data):
            raise Fail(EINVAL, ["Cannot seek to requested keyfile offset."])
        end = off + size if size else min(len(data), off + KEYFILE_MAX)
        if size and end > len(data):
            raise Fail(EINVAL, ["Cannot read requested amount of data."])
        if not size and len(data) - off > KEYFILE_MAX:
            raise Fail(EINVAL, ["Maximum keyfile size exceeded."])
        key = bytearray(data[off:end])
    finally:
        _wipe(data)
    if not key and not size:
        raise Fail(EINVAL, ["Nothing to read on input."])
    return key


def _passphrases(sh, opts, path):
    """The passphrases to try: one from a key file or non-interactive
    input, else up to --tries prompts (cryptsetup's default 3)."""
    if "--key-file" in opts:
        yield _read_keyfile(sh, opts)
        return
    tries = _num(opts, "--tries", 3) if sh.interactive() else 1
    if tries == 0:
        tries = 1 << 30
    for _ in range(tries):
        pw = sh.read_secret("Enter passphrase for %s: " % path)
        if pw is None:
            raise Fail(EINVAL, ["Error reading passphrase from terminal."])
        pw = bytearray(pw)
        size = _num(opts, "--keyfile-size", 0)
        if size:
            pw = pw[:size]
        if len(pw) > PASSPHRASE_MAX and sh.interactive():
            _wipe(pw)
            raise Fail(EINVAL, ["Maximum passphrase length exceeded."])
        yield pw


# -- open

def _flags(opts, hdr=None):
    out = []
    if opts.get("--allow-discards"):
        out.append("allow_discards")
    for o, f in (("--perf-same_cpu_crypt", "same_cpu_crypt"),
                 ("--perf-submit_from_crypt_cpus", "submit_from_crypt_cpus"),
                 ("--perf-no_read_workqueue", "no_read_workqueue"),
                 ("--perf-no_write_workqueue", "no_write_workqueue"),
                 ("--iv-large-sectors", "iv_large_sectors")):
        if opts.get(o):
            out.append(f)
    if hdr is not None and hdr.version == 2:
        from dmfw.luks.table import CONFIG_FLAGS
        for f in hdr.flags():
            if f in CONFIG_FLAGS:
                out.append(CONFIG_FLAGS[f])
    return out


def _check_requirements(hdr):
    if hdr.version != 2:
        return
    reqs = hdr.requirements()
    if not reqs:
        return
    for r in reqs:
        if "reencrypt" in r:
            raise Fail(EINVAL, ["Operation incompatible with device marked for "
                                "LUKS2 reencryption. Aborting."])
    raise Fail(EINVAL, ["Unmet LUKS2 requirements detected."])


def _check_cipher(spec):
    from dmfw.crypto import cipher
    try:
        cipher.parse_spec(spec)
    except DMError:
        raise Fail(EINVAL, ["Cipher %s is not supported." % spec])


def _create(sh, name, uuid, line, readonly, key_desc=None, key=None):
    kr = None
    if key_desc is not None:
        from dmfw.keyring import get_keyring
        kr = get_keyring(sh.dm)
        kr.add_logon_key(key_desc, key)
    try:
        dm_create(sh, name, uuid, line, readonly)
    finally:
        # libcryptsetup drops the key from its keyring once the table has it.
        if kr is not None:
            kr.unlink(key_desc)


def _open_luks(sh, opts, args, want):
    path = args[0]
    name = args[1] if len(args) > 1 else None
    test = opts.get("--test-passphrase")
    if name is None and not test:
        raise Fail(EINVAL, ["Command requires device and mapped name as arguments."])
    if name is not None and not test and sh.dm.find(name) is not None:
        raise Fail(EBUSY, ["Device %s already exists." % name])
    ro = bool(opts.get("--readonly"))
    data = _device(sh, path, write=not ro and not test)
    hdev = _header_dev(sh, opts, path)
    hdr = _load(hdev or data, opts.get("--header", path), want)
    _check_requirements(hdr)
    spec = hdr.cipher_spec()
    if spec is None:
        raise Fail(EINVAL, ["No usable keyslot is available."])
    _check_cipher(spec)
    slot = _num(opts, "--key-slot")
    if hdr.version == 2 and opts.get("--verbose"):
        # cryptsetup tries the tokens first; dmfw lists them but never runs
        # one, which is what cryptsetup says when none is usable.
        sh.write("No usable token is available.\n")
    result = _unlock(sh, opts, hdr, path, slot)
    key = result.key
    try:
        if opts.get("--verbose"):
            sh.write("Key slot %d unlocked.\n" % result.slot)
        if test:
            return 0
        return _activate(sh, opts, hdr, data, name, result, ro)
    finally:
        _wipe(key)


def _unlock(sh, opts, hdr, path, slot):
    from dmfw.luks import unlock
    if slot is not None:
        ok = [s.n for s in hdr.active_slots()] if hdr.version == 1 else \
            [i for i, ks, d in unlock.luks2_order(hdr, slot)]
        if slot not in ok:
            raise Fail(ENOENT, ["No usable keyslot is available."])
    last = None
    for pw in _passphrases(sh, opts, path):
        try:
            return unlock.unlock(hdr, pw, slot, sh.error)
        except DMError as e:
            if e.errno != EPERM:
                raise Fail(e.errno, [e.msg])
            last = e
            sh.error(unlock.NO_KEY)
        finally:
            _wipe(pw)
    raise Fail(EPERM, [] if last else [unlock.NO_KEY])


def _activate(sh, opts, hdr, data, name, result, ro):
    from dmfw.luks import table
    if hdr.version == 2:
        seg = hdr.segment()
        ss = seg["sector_size"]
        iv = int(seg["iv_tweak"])
        off = int(seg["offset"]) // 512
        if seg["size"] == "dynamic":
            size = data.nr_sectors - off
            size -= size % (ss // 512)
        else:
            size = int(seg["size"]) // 512
    else:
        ss, iv, off = 512, 0, hdr.payload_offset
        size = data.nr_sectors - off
    if size <= 0 or off + size > data.nr_sectors:
        raise Fail(EINVAL, ["Device %s is too small." % _path(data)])
    opts_dm = table.options(_flags(opts, hdr), ss)
    desc = None
    if hdr.version == 2 and not opts.get("--disable-keyring"):
        desc = table.keyring_desc(hdr.uuid, result.digest)
        key_ref = ":%d:logon:%s" % (len(result.key), desc)
    else:
        key_ref = binascii.hexlify(result.key).decode()
    line = table.line(size, hdr.cipher_spec(), key_ref, iv, data.devno(), off, opts_dm)
    try:
        _create(sh, name, table.dm_uuid(hdr.type, hdr.uuid, name), line,
                ro or data.readonly, desc, result.key)
    finally:
        key_ref = None
        line = None
    return 0


def _confirm_signatures(sh, path, dev, batch):
    """2.7's plain open over a device that already holds something (and no --offset):
    a WARNING per signature libblkid finds and, at a terminal, the YES dialog; the
    warnings are debug output with -q, and without a terminal the answer is yes."""
    from dmfw.blkid import signatures
    found = signatures(dev)
    if not found or batch:
        return
    for kind, value in found:
        sh.write("WARNING: Device %s already contains a '%s' %s signature.\n"
                 % (path, value, kind))
    if not sh.interactive():
        return
    sh.write("\nWARNING!\n========\n")
    answer = sh.read_answer("Detected device signature(s) on %s. Proceeding further may "
                            "damage existing data.\n\nAre you sure? (Type 'yes' in capital "
                            "letters): " % path)
    if answer is None:
        raise Fail(EINVAL, ["Error reading response from terminal."])
    if answer != "YES":
        raise Fail(EINVAL, ["Operation aborted."])


def _open_plain(sh, opts, args):
    from dmfw.luks import plain, table
    if len(args) < 2:
        raise Fail(EINVAL, ["Command requires device and mapped name as arguments."])
    path, name = args[0], args[1]
    parts = plain.name_and_mode(opts.get("--cipher", plain.CIPHER))
    if parts is None:
        raise Fail(EINVAL, ["No known cipher specification pattern detected."])
    spec = plain.table_spec(*parts)
    bits = _num(opts, "--key-size", plain.KEY_BITS)
    if bits % 8 or not bits:
        raise Fail(EINVAL, ["Key size must be a multiple of 8 bits"], usage=True)
    # cryptsetup 2.7 warns about its changed defaults even in batch mode (stderr).
    keyfile = opts.get("--key-file")
    hash_name = opts.get("--hash", plain.HASH)
    warned = False
    if "--cipher" not in opts or "--key-size" not in opts:
        sh.error("WARNING: Using default options for cipher (%s, key size %d bits) that "
                 "could be incompatible with older versions." % (spec, bits))
        warned = True
    if "--hash" not in opts and keyfile is None:
        sh.error("WARNING: Using default options for hash (%s) that could be incompatible "
                 "with older versions." % hash_name)
        warned = True
    if warned:
        sh.error("For plain mode, always use options --cipher, --key-size and if no "
                 "keyfile is used, then also --hash.")
    batch = opts.get("--batch-mode")
    # A key file is the key itself (--hash ignored); only typed input is hashed.
    if keyfile is not None and keyfile != "-":
        if "--hash" in opts and not batch:
            sh.write("WARNING: The --hash parameter is being ignored in plain mode with "
                     "keyfile specified.\n")
        hash_name = None
    if hash_name == "plain":
        hash_name = None
    if hash_name is None and keyfile is not None and keyfile != "-" \
            and "--keyfile-size" in opts and not batch:
        sh.write("WARNING: The --keyfile-size option is being ignored, the read size is "
                 "the same as the encryption key size.\n")
    if sh.dm.find(name) is not None:
        raise Fail(EBUSY, ["Device %s already exists." % name])
    _check_cipher(spec)
    ss = _num(opts, "--sector-size", 512)
    ro = bool(opts.get("--readonly"))
    data = _device(sh, path, write=not ro)
    off = _num(opts, "--offset", 0)
    if not off and not opts.get("--disable-blkid"):
        _confirm_signatures(sh, path, data, batch)
    skip = _num(opts, "--skip", 0)
    size = _num(opts, "--size", 0) or data.nr_sectors - off
    if size <= 0 or off + size > data.nr_sectors:
        raise Fail(EINVAL, ["Device %s is too small." % _path(data)])
    if hash_name is None and keyfile is not None:
        # Exactly the key's bytes from --keyfile-offset, whatever --keyfile-size says.
        kopts = dict(opts)
        kopts["--keyfile-size"] = str(bits // 8)
        pw = _read_keyfile(sh, kopts)
    else:
        pw = None
        for pw in _passphrases(sh, opts, path):
            break
    try:
        # Unhashed input is the key as lib/setup.c's process_key takes it: cut to
        # the key size or padded with zeros (a key file read gave exactly that size).
        try:
            key = plain.hash_key(hash_name or "plain", pw, bits // 8)
        except ValueError:
            raise Fail(EINVAL, ["Hash algorithm %s not supported." % hash_name])
    finally:
        _wipe(pw)
    try:
        line = table.line(size, spec, binascii.hexlify(key).decode(), skip,
                          data.devno(), off, table.options(_flags(opts), ss))
        _create(sh, name, table.dm_uuid("PLAIN", None, name), line, ro or data.readonly)
    finally:
        _wipe(key)
    return 0


def action_open(sh, opts, args):
    if not args:
        raise Fail(EINVAL, ["Command requires device and mapped name as arguments."])
    t = opts.get("--type", "luks").lower()
    if t == "plain":
        return _open_plain(sh, opts, args)
    if t not in ("luks", "luks1", "luks2"):
        raise Fail(EINVAL, ["Unsupported device type %s." % t])
    return _open_luks(sh, opts, args, t)


def action_luks_open(sh, opts, args):
    opts = dict(opts)
    opts.setdefault("--type", "luks")
    return action_open(sh, opts, args)


# -- close, status

def _name(arg):
    return arg[12:] if arg.startswith("/dev/mapper/") else arg


def action_close(sh, opts, args):
    if len(args) != 1:
        raise Fail(EINVAL, ["close: requires <name> as arguments"], usage=True)
    name = _name(args[0])
    md = sh.dm.find(name)
    if md is None:
        raise Fail(ENODEV, ["Device %s is not active." % name])
    if md.open_count():
        raise Fail(EBUSY, ["Device %s is still in use." % name])
    sh.dm.remove(name)
    return 0


def _path(dev):
    if dev.major == 253 or dev.name.startswith("dm-"):
        return "/dev/mapper/" + getattr(dev, "dm_name", dev.name)
    return "/dev/" + dev.name


def _dev_path(sh, dev):
    md = sh.dm.find_devno(dev.major, dev.minor) if hasattr(sh.dm, "find_devno") else None
    if md is not None:
        return "/dev/mapper/" + md.name
    return "/dev/" + dev.name


def _header_matches(sh, opts, dev, uuid, kind):
    """libcryptsetup's init by name: the type stays LUKS only while a header of
    that version loads from --header, else from the data device, and carries the
    UUID in the dm UUID (a detached header without --header: "n/a")."""
    from dmfw.luks import NotLuks, load
    try:
        hdr = load(_header_dev(sh, opts, None) or dev)
    except (Fail, NotLuks, DMError, OSError):
        return False
    parts = uuid.split("-")
    return "LUKS%d" % hdr.version == kind and len(parts) > 2 and \
        parts[2] == hdr.uuid.replace("-", "")


def action_status(sh, opts, args):
    if len(args) != 1:
        raise Fail(EINVAL, ["status: requires <name> as arguments"], usage=True)
    name = _name(args[0])
    md = sh.dm.find(name)
    w = sh.write
    if md is None:
        w("/dev/mapper/%s is inactive.\n" % name)
        return _EXIT[ENODEV]
    w("/dev/mapper/%s is active%s.\n" % (name, " and is in use" if md.open_count()
                                         else ""))
    uuid = md.uuid or ""
    kind = uuid.split("-")[1] if uuid.startswith("CRYPT-") else None
    t = md.live.targets[0] if md.live is not None and md.live.targets else None
    if kind is None or t is None or t.name != "crypt" or len(md.live.targets) != 1:
        w("  type:    n/a\n")
        return 0
    # What libcryptsetup reads back from the table line (the key itself
    # never: only its size and where it lives).
    a = t.params().split()
    spec, key, iv, devno, off = a[0], a[1], int(a[2]), a[3], int(a[4])
    rest = a[6:6 + int(a[5])] if len(a) > 5 else []
    ss = 512
    for o in rest:
        if o.startswith("sector_size:"):
            ss = int(o[12:])
    if key.startswith(":"):
        keybits = int(key.split(":")[1]) * 8
    else:
        keybits = len(key) * 4
    dev = sh.devices.get(devno)
    if kind in ("LUKS1", "LUKS2") and not _header_matches(sh, opts, dev, uuid, kind):
        kind = "n/a"
    w("  type:    %s\n" % kind)
    w("  cipher:  %s\n" % spec)
    w("  keysize: %d bits\n" % keybits)
    w("  key location: %s\n" % ("keyring" if key.startswith(":") else "dm-crypt"))
    w("  device:  %s\n" % _dev_path(sh, dev))
    if dev.name.startswith("loop") and getattr(dev, "path", None):
        w("  loop:    %s\n" % dev.path)
    w("  sector size:  %d\n" % ss)
    w("  offset:  %d sectors\n" % off)
    w("  size:    %d sectors\n" % md.nr_sectors)
    if iv:
        w("  skipped: %d sectors\n" % iv)
    w("  mode:    %s\n" % ("readonly" if md.readonly else "read/write"))
    fl = ""
    for word, shown in (("allow_discards", "discards "), ("same_cpu_crypt", "same_cpu_crypt "),
                        ("submit_from_crypt_cpus", "submit_from_crypt_cpus "),
                        ("no_read_workqueue", "no_read_workqueue "),
                        ("no_write_workqueue", "no_write_workqueue")):
        if word in rest:
            fl += shown
    if fl:
        w("  flags:   %s\n" % fl)
    return 0


# -- header actions

def _hdr_for(sh, opts, args, what):
    if len(args) != 1:
        raise Fail(EINVAL, ["%s: requires <device> as arguments" % what], usage=True)
    dev = _header_dev(sh, opts, args[0])
    if dev is None:
        try:
            dev = sh.resolve(args[0], image="file")
        except (DMError, OSError):
            raise Fail(ENODEV, ["Device %s does not exist or access denied." % args[0]])
    return dev


def action_dump(sh, opts, args):
    dev = _hdr_for(sh, opts, args, "luksDump")
    hdr = _load(dev, opts.get("--header", args[0]))
    from dmfw.luks import dump
    if opts.get("--dump-json-metadata"):
        import json
        if hdr.version != 2:
            raise Fail(EINVAL, ["Dump operation is not supported for this device type."])
        sh.write(json.dumps(hdr.json) + "\n")
    elif hdr.version == 1:
        dump.luks1(sh.write, hdr, opts.get("--header", args[0]))
    else:
        dump.luks2(sh.write, hdr)
    return 0


def action_isluks(sh, opts, args):
    # isLuks is quiet about what it finds: only the exit code says.
    dev = _hdr_for(sh, opts, args, "isLuks")
    want = opts.get("--type", "luks").lower()
    try:
        _load(dev, opts.get("--header", args[0]), want)
    except Fail as f:
        raise Fail(f.errno)
    return 0


def action_uuid(sh, opts, args):
    dev = _hdr_for(sh, opts, args, "luksUUID")
    hdr = _load(dev, opts.get("--header", args[0]))
    sh.write("%s\n" % hdr.uuid)
    return 0


ACTIONS = {"open": action_open, "luksOpen": action_luks_open, "close": action_close,
           "luksClose": action_close, "remove": action_close, "status": action_status,
           "luksDump": action_dump, "isLuks": action_isluks, "luksUUID": action_uuid}


def main(sh, argv):
    try:
        opts, args = getopt(argv, _OPTS, _ALIAS, "%s: unknown option",
                            "%s: missing argument")
    except UsageError as e:
        sh.error(str(e))
        return 1
    if "--help" in opts:
        sh.write(USAGE + "\n")
        return 0
    if "--usage" in opts:
        sh.write(USAGE + "\n")
        return 0
    if "--version" in opts:
        sh.write(VERSION + "\n")
        return 0
    if not args:
        sh.error(USAGE)
        sh.error("cryptsetup: Argument <action> missing.")
        return 1
    if args[0] == "open" and opts.get("--test-passphrase") and \
            opts.get("--type", "luks").lower() not in ("luks", "luks1", "luks2"):
        sh.error(USAGE)
        sh.error("cryptsetup: Option --test-passphrase is allowed only for open of "
                 "LUKS, TCRYPT, BITLK and FVAULT2 devices.")
        return 1
    fn = ACTIONS.get(args[0])
    if fn is None:
        sh.error(USAGE)
        sh.error("cryptsetup: Unknown action.")
        return 1
    verbose = opts.get("--verbose")
    try:
        _check_numbers(opts)
        code = fn(sh, opts, args[1:])
    except Fail as f:
        if f.usage:
            sh.error(USAGE)
        for line in f.lines:
            sh.error(("cryptsetup: " if f.usage else "") + line)
        code = _EXIT.get(f.errno, 1)
        if verbose:
            sh.write("Command failed with code %d (%s).\n" % (-code, _WHY[code]))
        return code
    if verbose:
        if code:
            sh.write("Command failed with code %d (%s).\n" % (-code, _WHY[code]))
        else:
            sh.write("Command successful.\n")
    return code
