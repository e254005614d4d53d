# Detached PKCS#7 / CMS SignedData verification (RFC 5652) as the kernel's
# verify_pkcs7_signature() is used by dm-verity: the content is supplied
# separately (the ASCII root hash), every SignerInfo must verify, and a
# signer's key must be one of the trusted certificates.

from dmfw.errors import DMError, FormatError, EBADMSG, ENOKEY, EKEYREJECTED, \
    EINVAL
from dmfw.crypto import der, oids, hashes

ACCEPTED_DIGESTS = ("sha224", "sha256", "sha384", "sha512")


def _alg(node, null_params=False):
    parts = der.seq(node, "AlgorithmIdentifier", 1, 2)
    if null_params and len(parts) > 1:
        # Digest and rsaEncryption parameters are absent or NULL.
        if parts[1].tag != der.NULL or parts[1].end != parts[1].cstart:
            raise DMError(EBADMSG, "PKCS#7: bad algorithm parameters")
    return der.oid(parts[0]), (parts[1] if len(parts) > 1 else None)


def _digest_name(oid):
    name = oids.DIGESTS.get(oid)
    if name is None:
        raise DMError(EBADMSG, "PKCS#7: unsupported digest algorithm %s" % oid)
    if name not in ACCEPTED_DIGESTS:
        raise DMError(EKEYREJECTED, "PKCS#7: %s signatures are not accepted" % name)
    return name


def _pss_params(node):
    # RSASSA-PSS-params: [0] hash, [1] mgf, [2] saltLength, [3] trailer;
    # defaults are sha1 / MGF1-sha1 / 20 / 1.
    h, mgf_h, salt = "sha1", "sha1", 20
    if node is None or node.tag == der.NULL:
        return h, mgf_h, salt
    for f in der.seq(node, "RSASSA-PSS-params", 0, 4):
        inner = f.children()
        if len(inner) != 1:
            raise DMError(EBADMSG, "PKCS#7: bad PSS parameters")
        if f.tag == 0xa0:
            h = _digest_name(_alg(inner[0], True)[0])
        elif f.tag == 0xa1:
            m_oid, m_par = _alg(inner[0])
            if m_oid != oids.MGF1 or m_par is None:
                raise DMError(EBADMSG, "PKCS#7: unsupported PSS mask function")
            mgf_h = _digest_name(_alg(m_par, True)[0])
        elif f.tag == 0xa2:
            salt = der.integer(inner[0])
            if salt < 0 or salt > 1024:
                raise DMError(EBADMSG, "PKCS#7: bad PSS salt length")
        elif f.tag == 0xa3:
            if der.integer(inner[0]) != 1:
                raise DMError(EBADMSG, "PKCS#7: bad PSS trailer field")
        else:
            raise DMError(EBADMSG, "PKCS#7: bad PSS parameters")
    return h, mgf_h, salt


class SignerInfo:
    def __init__(self, node):
        f = der.seq(node, "SignerInfo", 5, 7)
        self.version = der.integer(f[0])
        sid = f[1]
        if self.version != (1 if sid.tag == der.SEQUENCE else 3):
            raise DMError(EBADMSG, "PKCS#7: bad SignerInfo version")
        self.issuer_raw = self.serial = self.ski = None
        if sid.tag == der.SEQUENCE:
            iss, ser = der.seq(sid, "IssuerAndSerialNumber", 2, 2)
            self.issuer_raw = iss.expect(der.SEQUENCE, "issuer").raw()
            self.serial = der.integer(ser)
        elif sid.tag == 0x80:
            self.ski = bytes(sid.content())
        else:
            raise DMError(EBADMSG, "PKCS#7: bad signer identifier")
        self.digest_oid = _alg(f[2], True)[0]
        self.digest = _digest_name(self.digest_oid)
        i = 3
        self.signed_attrs = None
        if f[i].tag == 0xa0:
            self.signed_attrs = f[i]
            i += 1
        if len(f) < i + 2:
            raise DMError(EBADMSG, "PKCS#7: short SignerInfo")
        self.sig_alg, self.sig_params = _alg(f[i])
        if self.sig_alg == oids.RSA_ENCRYPTION or self.sig_alg in oids.RSA_WITH:
            _alg(f[i], True)
        self.signature = der.octets(f[i + 1])
        if len(f) > i + 3 or (len(f) == i + 3 and f[i + 2].tag != 0xa1):
            raise DMError(EBADMSG, "PKCS#7: bad SignerInfo")

    def attrs(self):
        out = {}
        for a in self.signed_attrs.children():
            t, vals = der.seq(a, "Attribute", 2, 2)
            k = der.oid(t)
            if k in out:
                raise DMError(EBADMSG, "PKCS#7: duplicate signed attribute")
            out[k] = vals.expect(der.SET, "AttributeValues").children()
        return out

    def signed_bytes(self, content):
        """The bytes the signature covers, after checking the content
        against the signed attributes when there are any."""
        md = hashes.digest(self.digest, content)
        if self.signed_attrs is None:
            return md
        a = self.attrs()
        ct = a.get(oids.ATTR_CONTENT_TYPE)
        dg = a.get(oids.ATTR_MESSAGE_DIGEST)
        if not ct or not dg or len(ct) != 1 or len(dg) != 1:
            raise DMError(EBADMSG, "PKCS#7: signed attributes lack content type or digest")
        if der.oid(ct[0]) != oids.DATA:
            raise DMError(EBADMSG, "PKCS#7: signed content is not id-data")
        if der.octets(dg[0]) != md:
            raise DMError(EKEYREJECTED, "PKCS#7: message digest mismatch "
                          "(content differs from what was signed)")
        raw = self.signed_attrs.raw()
        return hashes.digest(self.digest, b"\x31" + bytes(raw[1:]))

    def verify(self, key, digest):
        from dmfw.crypto.rsa import RSAPublicKey
        from dmfw.crypto.ecdsa import ECPublicKey
        alg = self.sig_alg
        if alg == oids.RSA_ENCRYPTION or alg in oids.RSA_WITH:
            if not isinstance(key, RSAPublicKey):
                raise DMError(EKEYREJECTED, "PKCS#7: RSA signature, non-RSA key")
            if alg in oids.RSA_WITH and oids.RSA_WITH[alg] != self.digest:
                raise DMError(EBADMSG, "PKCS#7: digest algorithms disagree")
            key.verify_pkcs1(digest, self.digest, self.signature)
        elif alg == oids.RSA_PSS:
            if not isinstance(key, RSAPublicKey):
                raise DMError(EKEYREJECTED, "PKCS#7: RSA-PSS signature, non-RSA key")
            h, mgf_h, salt = _pss_params(self.sig_params)
            if h != self.digest:
                raise DMError(EBADMSG, "PKCS#7: digest algorithms disagree")
            key.verify_pss(digest, h, self.signature, salt, mgf_h)
        elif alg in oids.ECDSA_WITH or alg == oids.EC_PUBLIC_KEY:
            if not isinstance(key, ECPublicKey):
                raise DMError(EKEYREJECTED, "PKCS#7: ECDSA signature, non-EC key")
            if alg in oids.ECDSA_WITH and oids.ECDSA_WITH[alg] != self.digest:
                raise DMError(EBADMSG, "PKCS#7: digest algorithms disagree")
            key.verify(digest, self.signature)
        else:
            raise DMError(EBADMSG, "PKCS#7: unsupported signature algorithm %s" % alg)


def parse(sig):
    """ContentInfo(SignedData) -> (signer infos, embedded certificates DER,
    embedded content or None)."""
    ci = der.seq(der.parse(sig), "ContentInfo", 2, 2)
    if der.oid(ci[0]) != oids.SIGNED_DATA:
        raise DMError(EBADMSG, "PKCS#7: not SignedData")
    inner = ci[1].expect(0xa0, "[0] content").children()
    if len(inner) != 1:
        raise DMError(EBADMSG, "PKCS#7: bad content wrapper")
    sd = der.seq(inner[0], "SignedData", 4, 6)
    if der.integer(sd[0]) not in (1, 3, 4, 5):
        raise DMError(EBADMSG, "PKCS#7: unsupported SignedData version")
    listed = [_alg(a, True)[0] for a in
              sd[1].expect(der.SET, "digestAlgorithms").children()]
    enc = der.seq(sd[2], "EncapsulatedContentInfo", 1, 2)
    if der.oid(enc[0]) != oids.DATA:
        raise DMError(EBADMSG, "PKCS#7: content type is not id-data")
    embedded = enc[1] if len(enc) == 2 else None
    certs = []
    i = 3
    while i < len(sd) - 1:
        if sd[i].tag == 0xa0:
            # Embedded certificates are never trusted for themselves, but a
            # malformed one makes the whole message malformed (as in Linux).
            from dmfw.crypto.x509 import Certificate
            certs = [Certificate(c.raw()) for c in sd[i].children()]
        elif sd[i].tag != 0xa1:
            raise DMError(EBADMSG, "PKCS#7: unexpected element in SignedData")
        i += 1
    signers = [SignerInfo(n) for n in sd[-1].expect(der.SET, "signerInfos").children()]
    if not signers:
        raise DMError(EBADMSG, "PKCS#7: no signers")
    for si in signers:
        if si.digest_oid not in listed:
            raise DMError(EBADMSG, "PKCS#7: signer digest not in digestAlgorithms")
    return signers, certs, embedded


def verify_detached(content, sig, trusted):
    """Check detached signature `sig` over `content` against the trusted
    certificates; returns the signer's certificate or raises DMError:
    EBADMSG malformed, ENOKEY no trusted signer, EKEYREJECTED bad
    signature."""
    try:
        signers, _certs, embedded = parse(sig)
    except FormatError as e:
        raise DMError(EBADMSG, "PKCS#7: malformed signature (%s)" % e.msg)
    if embedded is not None:
        raise DMError(EINVAL, "PKCS#7: signature carries its own content; "
                      "a detached signature is required")
    signer_cert = None
    for si in signers:
        cert = None
        for c in trusted:
            if c.matches(si.issuer_raw, si.serial, si.ski):
                cert = c
                break
        if cert is None:
            raise DMError(ENOKEY, "PKCS#7: signer is not a trusted certificate")
        try:
            digest = si.signed_bytes(content)
        except FormatError as e:
            raise DMError(EBADMSG, "PKCS#7: malformed signed attributes (%s)" % e.msg)
        si.verify(cert.key, digest)
        signer_cert = signer_cert or cert
    return signer_cert
