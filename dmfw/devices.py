# The firmware's view of /dev: every block device by kernel name, by the
# paths that lead to it (/dev/vda, /dev/mapper/x, /dev/VG/LV) and by
# major:minor, which is how tables name lower devices.

from dmfw.errors import DMError, ENODEV, EEXIST
from dmfw.numbers import is_decimal


def _split_devno(spec):
    i = spec.find(":")
    if i <= 0 or "/" in spec:
        return None
    a = spec[:i]
    b = spec[i + 1:]
    if not (is_decimal(a) and is_decimal(b)):
        return None
    return (int(a), int(b))


class DeviceRegistry:
    def __init__(self):
        self.by_name = {}      # kernel name -> device
        self.aliases = {}      # extra path -> kernel name

    def add(self, dev):
        if dev.name in self.by_name:
            raise DMError(EEXIST, "%s: device exists" % dev.name)
        self.by_name[dev.name] = dev

    def remove(self, dev):
        if self.by_name.get(dev.name) is dev:
            del self.by_name[dev.name]
        for k in [k for k, v in self.aliases.items() if v == dev.name]:
            del self.aliases[k]

    def alias(self, path, dev):
        self.aliases[path] = dev.name

    def unalias(self, path):
        self.aliases.pop(path, None)

    def find(self, spec):
        """Return the device for a path, kernel name or major:minor, or None."""
        devno = _split_devno(spec)
        if devno is not None:
            for d in self.by_name.values():
                if d.major == devno[0] and d.minor == devno[1]:
                    return d
            return None
        if spec in self.aliases:
            return self.by_name.get(self.aliases[spec])
        name = spec[5:] if spec.startswith("/dev/") else spec
        return self.by_name.get(name)

    def get(self, spec):
        d = self.find(spec)
        if d is None:
            raise DMError(ENODEV, "%s: no such block device" % spec)
        return d

    def names(self):
        return sorted(self.by_name)

    def free_minor(self, major, step=1):
        used = set()
        for d in self.by_name.values():
            if d.major == major:
                used.add(d.minor)
        m = 0
        while m in used:
            m += step
        return m
