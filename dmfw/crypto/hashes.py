# One place that maps algorithm names to hash constructors, so verity, CMS
# and the shell agree on names and sizes. hashlib first (C speed on both
# interpreters), the pure fallback only where hashlib lacks the algorithm.

import hashlib

DIGEST_SIZE = {"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32,
               "sha384": 48, "sha512": 64}


def constructor(name):
    """The constructor of hash `name` (hashlib's, or dmfw's own SHA-512/384 where the
    port has none), or ValueError if unknown."""
    ctor = getattr(hashlib, name, None)
    if ctor is None:
        if name == "sha512" or name == "sha384":
            from dmfw.crypto import sha512 as _s
            ctor = getattr(_s, name)
        else:
            raise ValueError("unknown hash " + name)
    return ctor


def new(name, data=None):
    """A hash object for `name`, or ValueError if unknown."""
    ctor = constructor(name)
    return ctor() if data is None else ctor(data)


def digest(name, data):
    return new(name, data).digest()


def supported(name):
    if name not in DIGEST_SIZE:
        return False
    try:
        new(name)
    except ValueError:
        return False
    return True
