# `dmsetup ls --tree`: libdm's dependency tree (libdm-deptree.c) drawn the
# way dmsetup.c draws it. Kept apart from dmsetup.py: firmware that never
# asks for a tree never loads it.

from dmfw.mapper import MappedDevice
from dmfw.errors import DMError, EINVAL

_ASCII = ("  ", "|-", "| ", "`-")
_UTF = ("  ", "\u251c\u2500", "\u2502 ", "\u2514\u2500")
_OPTIONS = ("active", "ascii", "blkdevname", "compact", "device", "inverted",
            "nodevice", "notrunc", "open", "rw", "status", "table", "utf", "uuid",
            "vt100")


class _Node:
    def __init__(self, dev):
        self.dev = dev
        self.name = dev.dm_name if isinstance(dev, MappedDevice) else ""
        self.uses = []
        self.used_by = []


def _deps(dev):
    # DM_TABLE_DEPS: the live table's devices, newest first as the kernel
    # keeps them.
    if isinstance(dev, MappedDevice) and dev.live is not None:
        return list(reversed(dev.live.used))
    return []


def build(dm):
    root = _Node(None)
    root.name = None
    nodes = {}
    bottom = []     # nodes without dependencies, in the order they appeared

    def link(parent, child):
        if parent is root:
            if child.used_by:
                return      # already has a real parent: not a top-level node
        elif child in root.uses:
            root.uses.remove(child)
            child.used_by.remove(root)
        if child not in parent.uses:
            parent.uses.append(child)
            child.used_by.append(parent)

    def add(parent, dev):
        key = (dev.major, dev.minor)
        node = nodes.get(key)
        new = node is None
        if new:
            node = _Node(dev)
            nodes[key] = node
        link(parent, node)
        if new:
            deps = _deps(dev)
            if not deps:
                bottom.append(node)
            for d in deps:
                add(node, d)

    for md in dm.list():
        add(root, md)
    return root, bottom


def render(dm, options=None):
    sym = _ASCII
    device = True
    blkdevname = False
    inverted = False
    for opt in (options.split(",") if options else []):
        if opt not in _OPTIONS:
            raise DMError(EINVAL, "Tree option not recognised: %s." % opt)
        if opt == "utf":
            sym = _UTF
        elif opt == "ascii":
            sym = _ASCII
        elif opt == "nodevice":
            device = False
        elif opt == "device":
            device = True
        elif opt == "blkdevname":
            blkdevname = True
        elif opt == "inverted":
            inverted = True
    root, bottom = build(dm)
    more = [0] * 102
    out = []

    def children(n):
        return n.used_by if inverted else n.uses

    def prefix(depth):
        s = ""
        for d in range(depth):
            s += " "
            if d == depth - 1:
                s += sym[1] if more[depth] else sym[3]
            else:
                s += sym[2] if more[d + 1] else sym[0]
        return s

    def walk(node, depth):
        kids = [k for k in children(node) if k is not root]
        for i, child in enumerate(kids):
            if depth + 2 > 100:
                return
            if child.name or device or blkdevname:
                more[depth] = i != len(kids) - 1
                line = prefix(depth) + child.name
                if blkdevname:
                    line += " <%s>" % child.dev.name
                if device:
                    line += " (%d:%d)" % (child.dev.major, child.dev.minor)
                out.append(line + "\n")
            if children(child):
                walk(child, depth + 1)

    if inverted:
        # Bottom-up walks start from the devices with no dependencies.
        start = _Node(None)
        start.used_by = bottom
        walk(start, 0)
    else:
        walk(root, 0)
    return "".join(out)
