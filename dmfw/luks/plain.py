# cryptsetup's plain mode: no header, the key is the passphrase hashed as
# lib/crypt_plain.c does (round i hashes i bytes "A" then the passphrase,
# the rounds concatenated up to the key size), or a key file's bytes as
# they are when no --hash is given.

# cryptsetup 2.7's compiled-in plain defaults (2.6 had aes-cbc-essiv:sha256
# and ripemd160).
CIPHER = "aes-xts-plain64"
KEY_BITS = 256
HASH = "sha256"


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
