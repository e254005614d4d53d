# Pure-Python public-key crypto for root-hash signatures: DER, X.509,
# PKCS#7/CMS SignedData, RSA (PKCS#1 v1.5, PSS), ECDSA (P-256, P-384), and
# the SHA-2 hashes MicroPython's hashlib lacks. Big integers only, no C.
