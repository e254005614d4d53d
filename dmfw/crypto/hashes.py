# One place that maps algorithm names to hash constructors, so verity, CMS
# and the shell agree on names and sizes. hashlib first (C speed on both
# interpreters), the pure fallback only where hashlib lacks the algorithm.

import hashlib

DIGEST_SIZE = {"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32,
               "sha384": 48, "sha512": 64, "ripemd160": 20, "whirlpool": 64}

# HMAC's block sizes (MicroPython's hash objects have no block_size).
BLOCK_SIZE = {"md5": 64, "sha1": 64, "sha224": 64, "sha256": 64,
              "sha384": 128, "sha512": 128, "ripemd160": 64, "whirlpool": 64}

# dmfw's own implementations, for names the port's hashlib lacks (MicroPython
# has only md5/sha1/sha256; OpenSSL 3 hides ripemd160 and whirlpool).
_PURE = {"sha512": "sha512", "sha384": "sha512", "ripemd160": "ripemd160",
         "whirlpool": "whirlpool"}


_CTORS = {}


def constructor(name):
    """The constructor of hash `name` (hashlib's, or dmfw's own SHA-512/384,
    RIPEMD-160 or Whirlpool where the port has none), or ValueError if unknown."""
    ctor = _CTORS.get(name)
    if ctor is not None:
        return ctor
    ctor = getattr(hashlib, name, None)
    if ctor is None and name in _PURE:
        ctor = _hashlib_new(name)
        if ctor is None:
            mod = __import__("dmfw.crypto." + _PURE[name], None, None, [name])
            ctor = getattr(mod, name)
    if ctor is None:
        raise ValueError("unknown hash " + name)
    _CTORS[name] = ctor
    return ctor


def _hashlib_new(name):
    """CPython's hashlib.new(name) as a constructor when OpenSSL has `name`."""
    hn = getattr(hashlib, "new", None)
    if hn is None:
        return None
    try:
        hn(name)
    except ValueError:
        return None
    return lambda data=b"": hn(name, data)


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
