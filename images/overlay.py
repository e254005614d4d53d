"""The per-boot initramfs overlay: the working tree's dmfw/ package and /init.

Linux unpacks every archive given as initrd in order, later files replacing earlier
ones, so this small archive rides on top of the cached base (images/guest.py): an edit
to dmfw/ or to the init script needs no rebuild of the base.
"""
import io
import os

from images.cpio import CpioWriter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Another dmfw tree for the guest (e.g. a deliberately broken copy, to see the guest
# tests fail); the working tree's by default.
PACKAGE = os.environ.get("DMFW_GUEST_PACKAGE") or os.path.join(REPO, "dmfw")
INIT = os.path.join(REPO, "images", "guest-init.sh")
PYPATH = "usr/lib/dmfw-py"


def trusted_module(certs):
    """dmfw_trusted.py: the certificates a vendor builds into the firmware
    (dmfw.keyring.builtin_certs reads it)."""
    return ("# Built in by the harness (--trust): the firmware's trusted certificates.\n"
            "CERTS = [\n%s]\n" % "".join("    %r,\n" % bytes(c) for c in certs)).encode()


def overlay_bytes(modules, package=PACKAGE, trusted=()):
    """The overlay archive: /init, the module list, the dmfw package's .py files and,
    with `trusted` (PEM or DER bytes), the built-in certificates."""
    buf = io.BytesIO()
    writer = CpioWriter(buf)
    if trusted:
        writer.file("%s/dmfw_trusted.py" % PYPATH, trusted_module(trusted))
    with open(INIT, "rb") as f:
        writer.file("init", f.read(), 0o755)
    writer.file("etc/dmfw-modules", ("\n".join(modules) + "\n").encode())
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        rel = os.path.relpath(root, os.path.dirname(package))
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(root, name), "rb") as f:
                    writer.file("%s/%s/%s" % (PYPATH, rel, name), f.read())
    writer.close()
    return buf.getvalue()


def write_overlay(path, modules, trusted=()):
    with open(path, "wb") as f:
        f.write(overlay_bytes(modules, trusted=trusted))
    return path
