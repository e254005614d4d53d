# Shell command table: name -> (module, function). Modules are imported on
# first use so the firmware only loads what it runs.

COMMANDS = {
    "dmsetup": ("dmfw.shell.dmsetup", "main"),
    "ddi": ("dmfw.shell.ddi", "main"),
    "help": ("dmfw.shell.builtins", "cmd_help"),
    "echo": ("dmfw.shell.builtins", "cmd_echo"),
    "true": ("dmfw.shell.builtins", "cmd_true"),
    "false": ("dmfw.shell.builtins", "cmd_false"),
    "sha256sum": ("dmfw.shell.builtins", "cmd_sha256sum"),
    "sha1sum": ("dmfw.shell.builtins", "cmd_sha1sum"),
    "md5sum": ("dmfw.shell.builtins", "cmd_md5sum"),
    "dd": ("dmfw.shell.builtins", "cmd_dd"),
    "hexdump": ("dmfw.shell.builtins", "cmd_hexdump"),
    "blockdev": ("dmfw.shell.builtins", "cmd_blockdev"),
    "ls": ("dmfw.shell.builtins", "cmd_ls"),
    "cmp": ("dmfw.shell.builtins", "cmd_cmp"),
    "time": ("dmfw.shell.builtins", "cmd_time"),
    "selftest": ("dmfw.shell.selftest", "main"),
}

HELP = {
    "dmsetup": "device-mapper control, as Linux dmsetup",
    "ddi": "ddi DISK | ddi open DISK [--arch A] [--root-hash H] [--name N] | ddi ls|cat|sha256 DEV [PATH]",
    "help": "list commands",
    "echo": "print arguments ($? is the last status)",
    "sha256sum": "sha256sum DEV [SECTOR COUNT]: checksum a device or a sector range",
    "sha1sum": "sha1sum DEV [SECTOR COUNT]",
    "md5sum": "md5sum DEV [SECTOR COUNT]",
    "dd": "dd if= of= bs= count= skip= seek=: copy between devices",
    "hexdump": "hexdump -C [-s OFFSET] [-n LENGTH] DEV",
    "blockdev": "blockdev --getsz|--getss|--getsize64|--getro DEV",
    "ls": "ls [/dev|/dev/mapper]: list block devices",
    "cmp": "cmp DEV1 DEV2: compare two devices byte by byte",
    "time": "time CMD...: run a command and print the elapsed time",
    "selftest": "run the in-firmware self tests",
}
