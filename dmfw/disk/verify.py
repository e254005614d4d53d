# The one place ddi meets the signature code: a verify(content, der,
# fingerprint) callable for dmfw.disk.ddi.plan_open, on the dm-verity work's
# PKCS#7 verification and trusted-certificate keyring (dmfw.keyring).

from dmfw.errors import DMError, ENOKEY


def verifier(mapper, extra=()):
    """Certificates trusted: the mapper's keyring plus `extra` (parsed
    Certificates, e.g. from `ddi open --certificate`). A fingerprint in the
    signature JSON narrows the choice to that certificate, as systemd does."""
    from dmfw.keyring import get_keyring
    kr = get_keyring(mapper)

    def verify(content, der, fingerprint):
        from dmfw.crypto.pkcs7 import verify_detached
        trusted = list(kr.trusted) + list(extra)
        if fingerprint is not None:
            trusted = [c for c in trusted if c.fingerprint == fingerprint]
            if not trusted:
                raise DMError(ENOKEY, "certificate %s is not trusted" % fingerprint)
        if not trusted:
            raise DMError(ENOKEY, "no trusted certificates")
        verify_detached(content, der, trusted)
    return verify
