# Integer helpers MicroPython lacks (no int.bit_length) or spells
# differently (int.from_bytes takes its arguments positionally).


def bitlen(n):
    if n <= 0:
        return 0
    h = "%x" % n
    top = int(h[0], 16)
    b = 0
    while top:
        b += 1
        top >>= 1
    return (len(h) - 1) * 4 + b


def from_bytes(b):
    return int.from_bytes(bytes(b), "big")


def to_bytes(n, length):
    return n.to_bytes(length, "big")


def inverse(a, m):
    """a^-1 mod m (m prime), by Fermat: pow with a big exponent is the one
    modular primitive both interpreters have."""
    return pow(a, m - 2, m)
