# Target registry: type name -> module, imported only when a table uses it,
# so firmware pays memory for the targets it needs.

from dmfw.errors import DMError, ENOEXEC

# In the kernel's registration order (dm-mod's own targets first, then the
# modules); `dmsetup targets` lists the newest first, as the kernel does.
# A list, not a dict: MicroPython's dicts do not keep insertion order.
_MODULES = (
    ("error", "dmfw.targets.error"),
    ("linear", "dmfw.targets.linear"),
    ("striped", "dmfw.targets.striped"),
    ("zero", "dmfw.targets.zero"),
    ("verity", "dmfw.targets.verity"),
    ("mirror", "dmfw.targets.mirror"),
    ("raid", "dmfw.targets.raid"),
    ("thin-pool", "dmfw.targets.thin"),
    ("thin", "dmfw.targets.thin"),
    ("crypt", "dmfw.targets.crypt"),
)

_loaded = {}


class TargetLoadError(DMError):
    """A registered target whose module does not load: say why, instead of
    hiding it behind "unknown target type"."""

    def __init__(self, name, modname, err):
        DMError.__init__(self, ENOEXEC, "cannot load target type %s (%s): %s"
                         % (name, modname, err))


def target_class(name):
    """The class of target type `name`, None if no such type is
    registered; TargetLoadError if its module fails to import."""
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
    except ImportError as e:
        raise TargetLoadError(name, modname, e)
    for cls in mod.TARGETS:
        _loaded[cls.name] = cls
    if name not in _loaded:
        raise TargetLoadError(name, modname, "module does not define it")
    return _loaded[name]


def available():
    """Target classes that can be loaded, for `dmsetup targets`."""
    out = []
    for name, _m in _MODULES:
        try:
            cls = target_class(name)
        except DMError:
            # `dmsetup targets` lists what the kernel has loaded; a module
            # that cannot load is not there (create says why).
            continue
        if cls not in out:
            out.insert(0, cls)
    return out
