# cryptsetup's plain mode: no header, the key is the passphrase hashed as
# lib/crypt_plain.c does (round i hashes i bytes "A" then the passphrase,
# the rounds concatenated up to the key size), or a key file's bytes as
# they are when no --hash is given.

# cryptsetup 2.7's compiled-in plain defaults (2.6 had aes-cbc-essiv:sha256
# and ripemd160).
CIPHER = "aes-xts-plain64"
KEY_BITS = 256
HASH = "sha256"


def name_and_mode(spec):
    """(cipher, mode) as libcryptsetup's crypt_parse_name_and_mode splits a
    --cipher: "aes-plain" is aes with cbc-plain, a bare "aes" is cbc-plain too,
    "null" is cipher_null-ecb, a bare capi: cipher has no mode; None for what
    it cannot split (a capi: mode naming a driver with a dash)."""
    cipher, dash, mode = spec.partition("-")
    if dash and cipher and mode:
        if cipher.startswith("capi:"):
            return None if ")" in mode else (cipher, mode)
        return cipher, "cbc-plain" if mode == "plain" else mode
    if spec in ("null", "cipher_null"):
        return "cipher_null", "ecb"
    if cipher:
        return cipher, "" if cipher.startswith("capi:") else "cbc-plain"
    return None


def table_spec(cipher, mode):
    return cipher + "-" + mode if mode else cipher


def hash_key(hash_name, passphrase, key_len):
    """A bytearray key of `key_len` bytes; ValueError for an unknown hash."""
    from dmfw.crypto import hashes
    if hash_name == "plain":
        out = bytearray(key_len)
        n = min(key_len, len(passphrase))
        out[:n] = passphrase[:n]
        return out
    out = bytearray()
    r = 0
    while len(out) < key_len:
        h = hashes.new(hash_name)
        if r:
            h.update(b"A" * r)
        h.update(bytes(passphrase))
        out.extend(h.digest())
        r += 1
    key = bytearray(out[:key_len])
    out[:] = bytes(len(out))
    return key
