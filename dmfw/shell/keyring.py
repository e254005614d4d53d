# Keyring commands of the firmware shell.
#
#   keyring trust FILE        add the X.509 certificate(s) in FILE (PEM or
#                             DER) to the trusted set used for root-hash
#                             signatures; prints one line per certificate
#   keyring list              trusted certificates, then user keys
#   keyctl padd user DESC @u < FILE
#                             store FILE's bytes as user key DESC (what
#                             root_hash_sig_key_desc names); prints the
#                             key's serial number, as keyctl does.
#                             `keyctl padd user DESC @u FILE` also works.
#   keyctl padd logon DESC @u < FILE
#                             the same for a logon key (DESC "prefix:name"),
#                             what dm-crypt's :<size>:logon:DESC key names;
#                             its payload cannot be read back, as the kernel's
#   keyctl add user|logon DESC DATA @u
#                             the key's payload is the word DATA (keyutils)
#   keyctl unlink DESC        drop user or logon key DESC
#
# Line formats: trusted "<n> <sha256 fingerprint> <key type> <description>"
# where the description is the kernel's "<CN>: <subject key id>"; user keys
# "<serial> user|logon <description> <payload bytes>".

from dmfw.errors import UsageError
from dmfw.keyring import get_keyring


def _cert_line(i, c):
    return "%d %s %s %s\n" % (i, c.fingerprint, c.key.describe().replace(" ", "-"),
                              c.description())


def cmd_keyring(sh, argv):
    kr = get_keyring(sh.dm)
    if len(argv) == 3 and argv[1] == "trust":
        certs = kr.trust(sh.read_input(argv[2]))
        for c in certs:
            idx = [i for i, t in enumerate(kr.trusted) if t.der == c.der][0]
            sh.write(_cert_line(idx, c))
        return 0
    if len(argv) == 2 and argv[1] == "list":
        for i, c in enumerate(kr.trusted):
            sh.write(_cert_line(i, c))
        for ktype, keys in (("user", kr.user), ("logon", kr.logon)):
            for desc in sorted(keys):
                serial, payload = keys[desc]
                sh.write("%d %s %s %d\n" % (serial, ktype, desc, len(payload)))
        return 0
    raise UsageError("usage: keyring trust CERT | keyring list")


def cmd_keyctl(sh, argv):
    kr = get_keyring(sh.dm)
    padd = len(argv) in (5, 6) and argv[1] == "padd"
    if padd or (len(argv) == 6 and argv[1] == "add"):
        if argv[2] not in ("user", "logon"):
            raise UsageError("keyctl: only 'user' and 'logon' keys are supported")
        ring = argv[4] if padd else argv[5]
        if ring not in ("@u", "@s", "@t", "@us"):
            raise UsageError("keyctl: unknown keyring %s" % ring)
        if padd:
            data = sh.read_input(argv[5] if len(argv) == 6 else "-")
        else:
            data = argv[4].encode()
        add = kr.add_user_key if argv[2] == "user" else kr.add_logon_key
        sh.write("%d\n" % add(argv[3], data))
        return 0
    if len(argv) == 3 and argv[1] == "unlink":
        if not kr.unlink(argv[2]):
            raise UsageError("keyctl: %s: no such key" % argv[2])
        return 0
    raise UsageError("usage: keyctl padd user|logon DESC @u < FILE"
                     " | keyctl add user|logon DESC DATA @u | keyctl unlink DESC")
