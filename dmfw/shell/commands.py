# Shell command table: name -> (module, function). Modules are imported on
# first use so the firmware only loads what it runs.

COMMANDS = {
    "dmsetup": ("dmfw.shell.dmsetup", "main"),
    "veritysetup": ("dmfw.shell.veritysetup", "main"),
    "cryptsetup": ("dmfw.shell.cryptsetup", "main"),
    "keyring": ("dmfw.shell.keyring", "cmd_keyring"),
    "keyctl": ("dmfw.shell.keyring", "cmd_keyctl"),
    "ddi": ("dmfw.shell.ddi", "main"),
    "boot": ("dmfw.shell.boot", "main"),
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
    "ls": ("dmfw.shell.files", "cmd_ls"),
    "mount": ("dmfw.shell.files", "cmd_mount"),
    "umount": ("dmfw.shell.files", "cmd_umount"),
    "cat": ("dmfw.shell.files", "cmd_cat"),
    "stat": ("dmfw.shell.files", "cmd_stat"),
    "readlink": ("dmfw.shell.files", "cmd_readlink"),
    "find": ("dmfw.shell.files", "cmd_find"),
    "blkid": ("dmfw.shell.blkid", "main"),
    "cmp": ("dmfw.shell.builtins", "cmd_cmp"),
    "time": ("dmfw.shell.builtins", "cmd_time"),
    "rescan": ("dmfw.shell.builtins", "cmd_rescan"),
    "selftest": ("dmfw.shell.selftest", "main"),
    "lvm": ("dmfw.shell.lvm", "main"),
    "pvs": ("dmfw.shell.lvm", "main"),
    "vgs": ("dmfw.shell.lvm", "main"),
    "lvs": ("dmfw.shell.lvm", "main"),
    "pvscan": ("dmfw.shell.lvm", "main"),
    "vgscan": ("dmfw.shell.lvm", "main"),
    "vgchange": ("dmfw.shell.lvm", "main"),
    "lvchange": ("dmfw.shell.lvm", "main"),
    "lvrename": ("dmfw.shell.lvm", "main"),
}

HELP = {
    "dmsetup": "device-mapper control, as Linux dmsetup",
    "veritysetup": "veritysetup format|verify|open|close|status|dump, as cryptsetup's",
    "cryptsetup": "cryptsetup open|luksOpen|close|status|luksDump|isLuks|luksUUID: "
                  "LUKS1/LUKS2 and plain dm-crypt, as cryptsetup 2.7's",
    "keyring": "keyring trust CERT | keyring list: trusted certificates for signatures",
    "keyctl": "keyctl padd user|logon DESC @u < FILE: store a user key (signature) or "
              "a logon key (dm-crypt)",
    "ddi": "Discoverable Disk Images: ddi DISK, ddi open DISK [--arch A] [--root-hash H] "
           "[--name N] [--certificate F], ddi ls|cat|sha256 DEV [PATH], ddi mount DEV DIR",
    "boot": "boot -l | -n [ENTRY] | [ENTRY] | --save DIR [ENTRY] | --bless ENTRY: find, "
            "verify and boot an installed OS version",
    "help": "list commands",
    "echo": "print arguments ($? is the last status)",
    "sha256sum": "sha256sum DEV [SECTOR COUNT]: checksum a device or a sector range",
    "sha1sum": "sha1sum DEV [SECTOR COUNT]",
    "md5sum": "md5sum DEV [SECTOR COUNT]",
    "dd": "dd if= of= bs= count= skip= seek=: copy between devices",
    "hexdump": "hexdump -C [-s OFFSET] [-n LENGTH] DEV",
    "blockdev": "blockdev --getsz|--getss|--getsize64|--getro DEV",
    "ls": "ls [-l] [-a] [PATH...]: list files on mounts, or block devices (/dev)",
    "mount": "mount [-t TYPE] [-o ro] DEV DIR: mount squashfs/erofs/ext2-4/vfat read-only",
    "umount": "umount DIR|DEV",
    "cat": "cat PATH...: print files",
    "stat": "stat PATH...: file status, as coreutils stat",
    "readlink": "readlink [-f] PATH: a symlink's target",
    "find": "find [PATH...] [-type f|d|l|c|b|p|s] [-name GLOB]",
    "blkid": "blkid [DEV...]: file system, LUKS, LVM, verity and partition tags",
    "cmp": "cmp DEV1 DEV2: compare two devices byte by byte",
    "time": "time CMD...: run a command and print the elapsed time",
    "rescan": "attach hot-plugged disks, detach unplugged ones (with --scan)",
    "selftest": "run the in-firmware self tests",
    "lvm": "lvm pvs|vgs|lvs|pvscan|vgscan|vgchange|lvchange|lvrename: LVM2 volume groups",
}

# `CMD --help` / `CMD -h` for the commands that do not parse their own
# options: the usage in the shape of the tool the command follows
# (coreutils, util-linux, keyutils), with dmfw's block-device forms.
USAGE = {
    "sha256sum": "Usage: sha256sum [FILE]...\n  or:  sha256sum DEV SECTOR COUNT\n"
                 "Print SHA256 (256-bit) checksums of devices or files.\n\n"
                 "With no FILE, or when FILE is -, read standard input.\n"
                 "With SECTOR COUNT, checksum that range of 512-byte sectors.\n",
    "sha1sum": "Usage: sha1sum [FILE]...\n  or:  sha1sum DEV SECTOR COUNT\n"
               "Print SHA1 (160-bit) checksums of devices or files.\n\n"
               "With no FILE, or when FILE is -, read standard input.\n"
               "With SECTOR COUNT, checksum that range of 512-byte sectors.\n",
    "md5sum": "Usage: md5sum [FILE]...\n  or:  md5sum DEV SECTOR COUNT\n"
              "Print MD5 (128-bit) checksums of devices or files.\n\n"
              "With no FILE, or when FILE is -, read standard input.\n"
              "With SECTOR COUNT, checksum that range of 512-byte sectors.\n",
    "dd": "Usage: dd [OPERAND]...\n"
          "Copy a device or file, according to the operands.\n\n"
          "  bs=BYTES        read and write up to BYTES bytes at a time (default: 512)\n"
          "  count=N         copy only N input blocks\n"
          "  if=FILE         read from FILE (or /dev/zero)\n"
          "  of=FILE         write to FILE (or /dev/null)\n"
          "  seek=N          skip N obs-sized output blocks\n"
          "  skip=N          skip N ibs-sized input blocks\n"
          "  status=none     suppress the transfer statistics\n",
    "hexdump": "\nUsage:\n hexdump -C [-s <offset>] [-n <length>] <file>\n\n"
               "Display file contents in hexadecimal and ascii.\n",
    "blockdev": "\nUsage:\n  blockdev commands devices\n\n"
                "Call block device ioctls from the command line.\n\n"
                "Available commands:\n"
                "        --getsz                   get size in 512-byte sectors\n"
                "        --getro                   get read-only\n"
                "        --getss                   get logical block (sector) size\n"
                "        --getpbsz                 get physical block (sector) size\n"
                "        --getbsz                  get blocksize\n"
                "        --getsize64               get size in bytes\n"
                "        --getra                   get readahead\n"
                "        --flushbufs               flush buffers\n",
    "ls": "Usage: ls [-1Aadln] [FILE]...\n\nList directory contents on mounted file "
          "systems,\nor the block devices under /dev, /dev/mapper, /dev/VG.\n\n"
          "\t-1\tOne column output\n\t-a\tInclude names starting with .\n"
          "\t-A\tLike -a, but exclude . and ..\n\t-d\tList directory names, "
          "not contents\n\t-l\tLong format\n\t-n\tList numeric UIDs and GIDs "
          "instead of names\n",
    "mount": "Usage: mount [-r] [-t FSTYPE] [-o OPT] DEVICE DIR\n\n"
             "Mount a file system read-only (squashfs, erofs, ext4, ext3, ext2, vfat;\n"
             "the type is detected when -t is absent). With no arguments, list mounts.\n\n"
             "\t-t FSTYPE\tFilesystem type\n\t-r\t\tRead-only mount\n"
             "\t-o OPT\t\tro, rw (refused: mounted read-only), defaults, noatime, "
             "nodev, nosuid, noexec\n",
    "umount": "Usage: umount DIR|DEVICE\n\nUnmount a file system.\n",
    "cat": "Usage: cat [FILE]...\n\nPrint FILEs to stdout\n",
    "stat": "Usage: stat FILE...\nDisplay file status (coreutils' default format, UTC).\n",
    "readlink": "Usage: readlink [-f] FILE\n\nDisplay symlink value\n\n"
                "\t-f\tCanonicalize by following all symlinks\n",
    "find": "Usage: find [PATH]... [-type f|d|l|c|b|p|s] [-name PATTERN]\n\n"
            "Search for files on mounted file systems.\n",
    "blkid": "Usage:\n blkid [<dev> ...]\n\nLocate and print block device attributes "
             "(file systems, LUKS, LVM2, verity, partitions).\n",
    "cmp": "Usage: cmp FILE1 FILE2\nCompare two devices or files byte by byte.\n",
    "time": "Usage: time COMMAND [ARG]...\nRun COMMAND and report the elapsed real time.\n",
    "rescan": "Usage: rescan\nAttach hot-plugged disks and detach unplugged ones "
              "(a shell started with --scan).\n",
    "keyring": "Usage: keyring trust CERT\n       keyring list\n"
               "Trust X.509 certificates for root hash signatures; list the keyring.\n",
    "keyctl": "Usage: keyctl padd user DESC @u [< FILE | FILE]\n"
              "       keyctl unlink DESC\n"
              "Store a user key (a root hash signature) in the firmware keyring.\n",
    "help": "Usage: help\nList the shell's commands.\n",
}
