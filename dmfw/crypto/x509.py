# X.509 certificates as trust anchors: the fields a signature check needs
# (issuer, serial, subject key identifier, public key) and what
# `keyring list` shows. Certificates are trusted because the user put them
# in the keyring; chains are not built.

import binascii

from dmfw.errors import FormatError, EBADMSG
from dmfw.crypto import der, oids, hashes


def name_str(node):
    """A Name as `CN = x, O = y` (openssl's oneline order)."""
    parts = []
    for rdn in node.expect(der.SEQUENCE, "Name").children():
        for atv in rdn.expect(der.SET, "RDN").children():
            t, v = der.seq(atv, "AttributeTypeAndValue", 2, 2)
            k = der.oid(t)
            parts.append("%s = %s" % (oids.NAMES.get(k, k), der.string(v)))
    return ", ".join(parts)


def name_attr(node, key):
    for part in name_str(node).split(", "):
        if part.startswith(key + " = "):
            return part[len(key) + 3:]
    return None


def public_key(spki_node):
    alg_node, bits_node = der.seq(spki_node, "SubjectPublicKeyInfo", 2, 2)
    alg = der.seq(alg_node, "AlgorithmIdentifier", 1, 2)
    kind = der.oid(alg[0])
    bits = der.bit_string(bits_node)
    if kind in (oids.RSA_ENCRYPTION, oids.RSA_PSS):
        from dmfw.crypto import rsa
        return rsa.from_spki(bits)
    if kind == oids.EC_PUBLIC_KEY:
        if len(alg) != 2 or alg[1].tag != der.OID:
            raise FormatError("X.509: EC key without named curve", EBADMSG)
        from dmfw.crypto import ecdsa
        return ecdsa.ECPublicKey(der.oid(alg[1]), bits)
    raise FormatError("X.509: unsupported public key algorithm %s" % kind, EBADMSG)


class Certificate:
    def __init__(self, data):
        self.der = bytes(data)
        top = der.seq(der.parse(self.der), "Certificate", 3, 3)
        tbs = der.seq(top[0], "TBSCertificate", 6, 10)
        i = 0
        if tbs[0].tag == 0xa0:
            i = 1
        if len(tbs) < i + 6:
            raise FormatError("X.509: short TBSCertificate", EBADMSG)
        self.serial = der.integer(tbs[i])
        self.issuer_raw = tbs[i + 2].expect(der.SEQUENCE, "issuer").raw()
        self.issuer = name_str(tbs[i + 2])
        validity = der.seq(tbs[i + 3], "Validity", 2, 2)
        self.not_before = der.string(validity[0])
        self.not_after = der.string(validity[1])
        self.subject = name_str(tbs[i + 4])
        self.cn = name_attr(tbs[i + 4], "CN") or name_attr(tbs[i + 4], "O") or ""
        self.key = public_key(tbs[i + 5])
        self.ski = None
        for ext_wrap in tbs[i + 6:]:
            if ext_wrap.tag != 0xa3:
                continue
            exts = ext_wrap.children()
            if len(exts) != 1:
                raise FormatError("X.509: bad extensions", EBADMSG)
            for ext in der.seq(exts[0], "Extensions"):
                parts = der.seq(ext, "Extension", 2, 3)
                if der.oid(parts[0]) == oids.SUBJECT_KEY_ID:
                    inner = der.parse(der.octets(parts[-1]), der.OCTET_STRING)
                    self.ski = der.octets(inner)
        self.fingerprint = binascii.hexlify(hashes.digest("sha256", self.der)).decode()

    def description(self):
        """The kernel's asymmetric key description: `CN: SKID`."""
        skid = binascii.hexlify(self.ski).decode() if self.ski else \
            self.fingerprint[:40]
        return "%s: %s" % (self.cn, skid)

    def matches(self, issuer_raw=None, serial=None, ski=None):
        if ski is not None:
            return self.ski == ski
        return self.serial == serial and bytes(self.issuer_raw) == bytes(issuer_raw)


def load(data):
    """DER or PEM (one or more CERTIFICATE blocks) -> [Certificate]."""
    data = bytes(data)
    if data.lstrip()[:5] != b"-----":
        return [Certificate(data)]
    out = []
    rest = data
    while True:
        a = rest.find(b"-----BEGIN CERTIFICATE-----")
        if a < 0:
            break
        b = rest.find(b"-----END CERTIFICATE-----", a)
        if b < 0:
            raise FormatError("PEM: unterminated CERTIFICATE block", EBADMSG)
        body = rest[a + 27:b]
        try:
            blob = binascii.a2b_base64(b"".join(body.split()))
        except (ValueError, TypeError):
            raise FormatError("PEM: bad base64", EBADMSG)
        out.append(Certificate(blob))
        rest = rest[b + 25:]
    if not out:
        raise FormatError("PEM: no CERTIFICATE block", EBADMSG)
    return out
