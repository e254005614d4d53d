# The firmware's keyring, standing in for the kernel keyrings dm-verity and
# dm-crypt use: trusted X.509 certificates (the role of the builtin/secondary
# trusted keyrings), "user" keys found by description (what
# `keyctl padd user DESC @u` creates and root_hash_sig_key_desc names) and
# "logon" keys (`keyctl padd logon DESC @u`: what cryptsetup puts volume keys
# in; like the kernel's, their payload is never read back out, only used by
# targets: dm-crypt's :<size>:logon:<desc>).

from dmfw.errors import DMError, EINVAL, ENOKEY

# The kernel's user-key payload limit.
USER_KEY_MAX = 32767


class Keyring:
    def __init__(self):
        self.trusted = []
        self.user = {}          # description -> (serial, payload)
        self.logon = {}         # description -> (serial, bytearray payload)
        self.next_serial = 1000
        # dm_verity.require_signatures: refuse tables without a signature.
        self.require_signatures = False

    def trust(self, data):
        """Add the certificate(s) in a DER or PEM blob; returns them."""
        from dmfw.crypto import x509
        certs = x509.load(data)
        for c in certs:
            if not [t for t in self.trusted if t.der == c.der]:
                self.trusted.append(c)
        return certs

    def add_user_key(self, desc, payload):
        """keyctl padd user DESC @u: create or update; returns the serial."""
        if not desc:
            raise DMError(EINVAL, "key description must not be empty")
        if len(payload) > USER_KEY_MAX:
            raise DMError(EINVAL, "user key payload too large")
        old = self.user.get(desc)
        serial = old[0] if old else self._serial()
        self.user[desc] = (serial, bytes(payload))
        return serial

    def add_logon_key(self, desc, payload):
        """keyctl padd logon DESC @u: as logon_vet_description, the
        description needs a "<subsystem>:" prefix."""
        i = desc.find(":")
        if i <= 0:
            raise DMError(EINVAL, "logon key description needs a 'prefix:'")
        if len(payload) > USER_KEY_MAX:
            raise DMError(EINVAL, "logon key payload too large")
        old = self.logon.get(desc)
        if old:
            old[1][:] = bytes(len(old[1]))
        serial = old[0] if old else self._serial()
        self.logon[desc] = (serial, bytearray(payload))
        return serial

    def key(self, ktype, desc):
        """request_key(): the payload of key `desc` of type "user" or "logon"
        (None if there is none) for a target to copy."""
        k = (self.logon if ktype == "logon" else self.user).get(desc)
        return k[1] if k else None

    def _serial(self):
        self.next_serial += 1
        return self.next_serial

    def user_key(self, desc):
        k = self.user.get(desc)
        return k[1] if k else None

    def unlink(self, desc):
        k = self.logon.pop(desc, None)
        if k is not None:
            k[1][:] = bytes(len(k[1]))
        return (self.user.pop(desc, None) is not None) or k is not None

    def verify_detached(self, content, sig):
        from dmfw.crypto.pkcs7 import verify_detached
        if not self.trusted:
            # As the kernel: no key to check against is ENOKEY.
            raise DMError(ENOKEY, "no trusted certificates in the keyring")
        return verify_detached(content, sig, self.trusted)


def builtin_certs():
    """Certificates a firmware build compiles in: an optional module
    `dmfw_trusted` with CERTS = [PEM or DER bytes, ...] (the role of the
    kernel's CONFIG_SYSTEM_TRUSTED_KEYS)."""
    try:
        mod = __import__("dmfw_trusted")
    except ImportError:
        return []
    return list(getattr(mod, "CERTS", []))


def get_keyring(mapper):
    kr = getattr(mapper, "keyring", None)
    if kr is None:
        kr = Keyring()
        for blob in builtin_certs():
            kr.trust(blob)
        try:
            mapper.keyring = kr
        except AttributeError:
            pass
    return kr
