# Number parsing as the kernel and the Linux tools do it: plain ASCII
# decimal digits (str.isdigit() would also take '¹' and other scripts,
# which int() then refuses with an error that is not ours).


def is_decimal(s):
    if not s:
        return False
    for c in s:
        if c < "0" or c > "9":
            return False
    return True


def parse_uint(s, bits=64):
    """The value of decimal `s` if it fits in `bits` bits, else None."""
    if not is_decimal(s):
        return None
    v = int(s)
    return v if v < (1 << bits) else None
