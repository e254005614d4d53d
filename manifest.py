# dmfw for a MicroPython firmware, in micropython-lib's manifest convention.
#
# Freeze all of dmfw into a board's firmware, from the board's manifest:
#     include("/path/to/dmfw")                  # this file: every module
#     include("/path/to/dmfw", minimal=True)    # core + verity + shell (see MINIMAL)
# or on its own:  make BOARD=... FROZEN_MANIFEST=/path/to/dmfw/manifest.py
#
# opt= is the optimisation level mpy-cross compiles the frozen modules with (its -O):
#     0  asserts compiled in, __debug__ is True, line numbers kept in tracebacks
#     1  asserts dropped, __debug__ is False (code under `if __debug__:` dropped)
#     2  as 1
#     3  as 1, and no line numbers: the smallest bytecode; tracebacks name functions only
# micropython-lib freezes its packages with opt=3, and so does dmfw: its checks must not
# rely on `assert`. Without opt= the build's default level applies (mpy-cross's is 0).
#
# The minimal set is what a verified boot needs: the core with the targets built into
# the kernel's dm-mod (linear, striped, zero, error), verity and the shell. It leaves
# out mirror, raid, thin, LVM2, DDI, GPT, FAT and the signature crypto (X.509/PKCS#7);
# `dmsetup targets` lists the targets that are there. `python -m harness.frozen`
# prints the .mpy size of both sets.

metadata(
    description="dmfw: the Linux device mapper (linear, striped, verity, LVM2, DDI) "
    "for firmware",
    version="0.1.0",
)

MINIMAL = (
    # core: block devices, the mapper, tables and the target registry
    "__init__.py",
    "__main__.py",
    "blockdev.py",
    "compat.py",
    "devices.py",
    "devnames.py",
    "errors.py",
    "mapper.py",
    "numbers.py",
    "table.py",
    "target.py",
    "targets/__init__.py",
    # the targets built into the kernel's dm-mod (selftest checks all four)
    "targets/error.py",
    "targets/linear.py",
    "targets/striped.py",
    "targets/zero.py",
    # verity (hash tree, superblock, FEC) and the keyring its signed root hashes use
    "targets/verity.py",
    "verity/__init__.py",
    "verity/fec.py",
    "verity/params.py",
    "verity/rs.py",
    "verity/superblock.py",
    "verity/tree.py",
    "crypto/__init__.py",
    "crypto/hashes.py",
    "keyring.py",
    # the shell with dmsetup, veritysetup, keyring/keyctl, the builtins and selftest
    # (not lvm, ddi)
    "shell/__init__.py",
    "shell/builtins.py",
    "shell/commands.py",
    "shell/cryptcommon.py",
    "shell/dmsetup.py",
    "shell/dmsetup_tree.py",
    "shell/keyring.py",
    "shell/options.py",
    "shell/parse.py",
    "shell/selftest.py",
    "shell/veritysetup.py",
    # the bare-metal firmware's disk driver and boot (images/baremetal.py)
    "platform/__init__.py",
    "platform/baremetal.py",
    "platform/virtio_blk.py",
)

options.defaults(minimal=False)
package("dmfw", files=MINIMAL if options.minimal else None, opt=3)
