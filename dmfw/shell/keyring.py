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
#   keyctl unlink DESC        drop user key DESC
#
# Line formats: trusted "<n> <sha256 fingerprint> <key type> <description>"
# where the description is the kernel's "<CN>: <subject key id>"; user keys
# "<serial> user <description> <payload bytes>".

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
        for desc in sorted(kr.user):
            serial, payload = kr.user[desc]
            sh.write("%d user %s %d\n" % (serial, desc, len(payload)))
        return 0
    raise UsageError("usage: keyring trust CERT | keyring list")


def cmd_keyctl(sh, argv):
    kr = get_keyring(sh.dm)
    if len(argv) in (5, 6) and argv[1] == "padd":
        if argv[2] != "user":
            raise UsageError("keyctl: only 'user' keys are supported")
        if argv[4] not in ("@u", "@s", "@t", "@us"):
            raise UsageError("keyctl: unknown keyring %s" % argv[4])
        data = sh.read_input(argv[5] if len(argv) == 6 else "-")
        sh.write("%d\n" % kr.add_user_key(argv[3], data))
        return 0
    if len(argv) == 3 and argv[1] == "unlink":
        if not kr.unlink(argv[2]):
            raise UsageError("keyctl: %s: no such key" % argv[2])
        return 0
    raise UsageError("usage: keyctl padd user DESC @u < FILE | keyctl unlink DESC")
