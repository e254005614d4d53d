# The hashlib-shaped shell shared by dmfw's pure Merkle-Damgard hashes (SHA-512/384,
# RIPEMD-160, Whirlpool): buffering, whole blocks through the compression function,
# copy(), hexdigest(). A hash class gives its block size, initial state `_iv`,
# `_compress(state, block) -> new state` (states are never changed in place, so a
# copy may share one) and digest(), which pads and finishes through _blocks().


class MDHash:
    block_size = 64
    _iv = ()

    def __init__(self, data=None):
        self._h = self._iv
        self._buf = b""
        self._len = 0
        if data is not None:
            self.update(data)

    def _blocks(self, h, data):
        bs = self.block_size
        comp = self._compress
        for i in range(0, len(data) - bs + 1, bs):
            h = comp(h, data[i:i + bs])
        return h

    def update(self, data):
        data = bytes(data)
        self._len += len(data)
        buf = self._buf + data
        n = len(buf) - len(buf) % self.block_size
        self._h = self._blocks(self._h, buf[:n])
        self._buf = buf[n:]

    def copy(self):
        c = self.__class__()
        c._h = self._h
        c._buf = self._buf
        c._len = self._len
        return c

    def hexdigest(self):
        import binascii
        return binascii.hexlify(self.digest()).decode()
