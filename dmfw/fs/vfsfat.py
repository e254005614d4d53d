# MicroPython's FatFs (vfs.VfsFat) behind the same small interface as the
# pure-Python reader. The VfsFat object is used unmounted: its methods take
# paths inside the file system, and nothing is written to the device.

from dmfw.errors import DMError, FormatError, ENOENT


class VfsFatFS:
    kind = "FAT"

    def __init__(self, VfsFat, dev):
        try:
            self.fs = VfsFat(dev)
        except OSError as e:
            raise FormatError("%s: not a FAT file system (%s)" % (dev.name, e))

    def listdir(self, path="/"):
        try:
            return [(e[0], bool(e[1] & 0x4000), e[3] if len(e) > 3 else 0)
                    for e in self.fs.ilistdir(path)]
        except OSError:
            raise DMError(ENOENT, "%s: no such directory" % path)

    def open(self, path):
        try:
            return self.fs.open(path, "rb")
        except OSError:
            raise DMError(ENOENT, "%s: no such file or directory" % path)
