# A deliberately simple reference model of dm mapping: every sector of a
# mapped device is resolved on its own, straight from the table text, with
# the formulas of formats.md. The real implementation moves whole requests;
# the two must agree byte for byte.

SECTOR = 512


class Model:
    def __init__(self, disks):
        # name -> bytearray (a copy of each disk's bytes)
        self.data = {k: bytearray(v) for k, v in disks.items()}
        self.tables = {}    # dm name -> [(start, length, type, args)]

    def resolve(self, dev, sector):
        """('disk', name, sector) | ('zero',) | ('error',)"""
        while dev.startswith("/dev/mapper/"):
            lines = self.tables[dev[len("/dev/mapper/"):]]
            for start, length, ttype, args in lines:
                if start <= sector < start + length:
                    break
            else:
                raise AssertionError("sector outside table")
            off = sector - start
            a = args.split()
            if ttype == "linear":
                dev, sector = a[0], int(a[1]) + off
            elif ttype == "striped":
                n, chunk = int(a[0]), int(a[1])
                c = off // chunk
                stripe = c % n
                dev = a[2 + 2 * stripe]
                sector = (c // n) * chunk + off % chunk + int(a[3 + 2 * stripe])
            elif ttype == "zero":
                return ("zero",)
            else:
                return ("error",)
        return ("disk", dev, sector)

    def read(self, dev, sector, count):
        out = bytearray()
        for s in range(sector, sector + count):
            r = self.resolve(dev, s)
            if r[0] == "zero":
                out += bytes(SECTOR)
            elif r[0] == "error":
                return None
            else:
                d = self.data[r[1]]
                out += d[r[2] * SECTOR:(r[2] + 1) * SECTOR]
        return bytes(out)

    def write(self, dev, sector, data):
        for i in range(len(data) // SECTOR):
            r = self.resolve(dev, sector + i)
            if r[0] == "disk":
                self.data[r[1]][r[2] * SECTOR:(r[2] + 1) * SECTOR] = \
                    data[i * SECTOR:(i + 1) * SECTOR]
