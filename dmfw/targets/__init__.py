# Target registry: type name -> module, imported only when a table uses it,
# so firmware pays memory for the targets it needs.

# In the kernel's registration order (dm-mod's own targets first, then the
# modules); `dmsetup targets` lists the newest first, as the kernel does.
# A list, not a dict: MicroPython's dicts do not keep insertion order.
_MODULES = (
    ("error", "dmfw.targets.error"),
    ("linear", "dmfw.targets.linear"),
    ("striped", "dmfw.targets.striped"),
    ("zero", "dmfw.targets.zero"),
    ("verity", "dmfw.targets.verity"),
    ("crypt", "dmfw.targets.crypt"),
    ("mirror", "dmfw.targets.mirror"),
    ("raid", "dmfw.targets.raid"),
    ("thin-pool", "dmfw.targets.thin"),
    ("thin", "dmfw.targets.thin"),
)

_loaded = {}


def target_class(name):
    if name in _loaded:
        return _loaded[name]
    modname = None
    for n, m in _MODULES:
        if n == name:
            modname = m
    if modname is None:
        return None
    try:
        mod = __import__(modname, None, None, ["TARGETS"])
    except ImportError:
        return None
    for cls in mod.TARGETS:
        _loaded[cls.name] = cls
    return _loaded.get(name)


def available():
    """Target classes that can be loaded, for `dmsetup targets`."""
    out = []
    for name, _m in _MODULES:
        cls = target_class(name)
        if cls is not None and cls not in out:
            out.insert(0, cls)
    return out
