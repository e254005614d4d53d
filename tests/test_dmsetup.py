# dmsetup through the shell: outputs in the byte layout of lvm2's dmsetup,
# and the device lifecycle (reload/suspend/resume/rename/remove/message).


from shellrun import run, new_shell

INFO_HEAD = "Name             Maj Min Stat Open Targ Event  UUID                            \n"


def sh_for(disks):
    return new_shell(disks["specs"])


def test_create_table_status_ls(disks):
    sh = sh_for(disks)
    r = run("dmsetup create lin --table '0 2048 linear /dev/vda 1024'", sh=sh)
    assert (r.status, r.out, r.err) == (0, "", "")
    r = run("dmsetup create str --table '0 4096 striped 2 128 /dev/vda 4096 254:16 0'", sh=sh)
    assert r.status == 0, r
    assert run("dmsetup table lin", sh=sh).out == "0 2048 linear 254:0 1024\n"
    assert run("dmsetup table", sh=sh).out == (
        "lin: 0 2048 linear 254:0 1024\n"
        "str: 0 4096 striped 2 128 254:0 4096 254:16 0\n")
    assert run("dmsetup status", sh=sh).out == (
        "lin: 0 2048 linear \n"
        "str: 0 4096 striped 2 254:0 254:16 1 AA\n")
    assert run("dmsetup ls", sh=sh).out == "lin\t(253:0)\nstr\t(253:1)\n"
    assert run("dmsetup ls --target striped", sh=sh).out == "str\t(253, 1)\n"
    assert run("dmsetup table --target linear", sh=sh).out == "lin: 0 2048 linear 254:0 1024\n"


def test_info_long_and_columns(disks):
    sh = sh_for(disks)
    run("dmsetup create -u LVM-abc --table '0 8 zero' z; "
        "dmsetup create -r s --table '0 4096 striped 2 128 /dev/vda 0 /dev/vdb 0'", sh=sh)
    assert run("dmsetup info z", sh=sh).out == (
        "Name:              z\n"
        "State:             ACTIVE\n"
        "Read Ahead:        256\n"
        "Tables present:    LIVE\n"
        "Open count:        0\n"
        "Event number:      0\n"
        "Major, minor:      253, 0\n"
        "Number of targets: 1\n"
        "UUID: LVM-abc\n"
        "\n")
    r = run("dmsetup info s", sh=sh)
    assert "State:             ACTIVE (READ-ONLY)\n" in r.out
    # 2 stripes x 64 KiB: io_opt 128 KiB, read-ahead twice that (512 sectors).
    assert "Read Ahead:        512\n" in r.out
    assert "UUID" not in r.out
    assert run("dmsetup info -c", sh=sh).out == (
        INFO_HEAD +
        "s                253   1 L--r    0    1      0                                 \n"
        "z                253   0 L--w    0    1      0 LVM-abc                         \n")
    assert run("dmsetup info -c --noheadings -o name,attr --separator :", sh=sh).out == \
        "s:L--r\nz:L--w\n"


def test_no_devices():
    for cmd in ("ls", "table", "status", "info", "info -c"):
        r = run("dmsetup " + cmd)
        assert (r.status, r.out) == (0, "No devices found\n"), cmd


def test_reload_suspend_resume_cycle(disks):
    sh = sh_for(disks)
    run("dmsetup create d --table '0 100 linear /dev/vda 0'", sh=sh)
    run("dmsetup reload d --table '0 200 linear /dev/vdb 8'", sh=sh)
    out = run("dmsetup info d", sh=sh).out
    assert "Tables present:    LIVE & INACTIVE\n" in out
    assert run("dmsetup table d", sh=sh).out == "0 100 linear 254:0 0\n"
    assert run("dmsetup table --inactive d", sh=sh).out == "0 200 linear 254:16 8\n"
    assert run("dmsetup info -c -o attr --noheadings d", sh=sh).out == "LI-w\n"
    r = run("dmsetup suspend d; dmsetup info -c -o attr --noheadings d", sh=sh)
    assert r.out == "LIsw\n"
    r = run("sha256sum /dev/mapper/d", sh=sh)
    assert r.status == 1 and "suspended" in r.err
    run("dmsetup resume d", sh=sh)
    assert run("dmsetup table d", sh=sh).out == "0 200 linear 254:16 8\n"
    assert run("blockdev --getsz /dev/mapper/d", sh=sh).out == "200\n"
    run("dmsetup reload d --table '0 1 zero'; dmsetup clear d", sh=sh)
    assert "Tables present:    LIVE\n" in run("dmsetup info d", sh=sh).out


def test_notable_rename_setuuid_remove(disks):
    sh = sh_for(disks)
    run("dmsetup create --notable empty", sh=sh)
    out = run("dmsetup info empty", sh=sh).out
    assert "Tables present:    None\n" in out
    assert run("dmsetup table empty", sh=sh).out == "\n"
    assert run("dmsetup rename empty full", sh=sh).status == 0
    assert run("dmsetup ls", sh=sh).out == "full\t(253:0)\n"
    assert run("dmsetup rename full --setuuid U-1", sh=sh).status == 0
    assert "UUID: U-1\n" in run("dmsetup info full", sh=sh).out
    r = run("dmsetup rename full --setuuid U-2", sh=sh)
    assert r.status == 1
    assert run("dmsetup remove full; dmsetup ls", sh=sh).out == "No devices found\n"


def test_remove_busy_force_and_remove_all(disks):
    sh = sh_for(disks)
    run("dmsetup create lo --table '0 100 linear /dev/vda 0'; "
        "dmsetup create hi --table '0 50 linear /dev/mapper/lo 10'", sh=sh)
    r = run("dmsetup remove lo", sh=sh)
    assert r.status == 1
    assert r.err == ("device-mapper: remove ioctl on lo  failed: Device or resource busy\n"
                     "Command failed.\n")
    assert "Open count:        1\n" in run("dmsetup info lo", sh=sh).out
    assert run("dmsetup deps hi", sh=sh).out == "1 dependencies\t: (253, 0)\n"
    # --force swaps in an error table when the device cannot go.
    r = run("dmsetup remove -f lo", sh=sh)
    assert r.status == 1
    assert run("dmsetup table lo", sh=sh).out == "0 100 error \n"
    assert run("sha256sum /dev/mapper/hi", sh=sh).status == 1
    assert run("dmsetup remove_all; dmsetup ls", sh=sh).out == "No devices found\n"


def test_message_and_targets_version(disks):
    sh = sh_for(disks)
    run("dmsetup create z --table '0 8 zero'", sh=sh)
    r = run("dmsetup message z 0 hello", sh=sh)
    assert r.status == 1 and "message ioctl on z  failed" in r.err
    out = run("dmsetup targets", sh=sh).out
    # Linux 6.12's versions, newest registration first (as in the guest).
    assert out.endswith("zero             v1.2.0\nstriped          v1.6.0\n"
                        "linear           v1.4.0\nerror            v1.7.0\n")
    assert run("dmsetup version", sh=sh).out.startswith("Library version:   1.02.")


def test_readonly_device_refuses_writes(disks):
    sh = sh_for(disks)
    run("dmsetup create -r ro --table '0 64 linear /dev/vda 0'", sh=sh)
    r = run("dd if=/dev/vdb of=/dev/mapper/ro bs=512 count=1", sh=sh)
    assert r.status == 1 and "read-only" in r.err
    with open(disks["paths"]["/dev/vda"], "rb") as f:
        assert f.read(512) == disks["data"]["/dev/vda"][:512]


def test_table_from_file_and_stdin_and_concise(disks, tmp_path):
    sh = sh_for(disks)
    t = tmp_path / "t"
    t.write_text("# comment\n0 10 linear /dev/vda 0   # trailing\n\n10 6 zero\n")
    assert run("dmsetup create f %s" % t, sh=sh).status == 0
    assert run("dmsetup table f", sh=sh).out == "0 10 linear 254:0 0\n10 6 zero \n"
    assert run("dmsetup create g < %s" % t, sh=sh).status == 0
    assert run("dmsetup create h --table $'0 4 zero\\n4 4 error'", sh=sh).status == 0
    assert run("dmsetup table h", sh=sh).out == "0 4 zero \n4 4 error \n"
    r = run("dmsetup create --concise 'c1,,,ro,0 8 linear /dev/vdb 0,8 8 zero;c2,U2,,rw,0 2 zero'", sh=sh)
    assert r.status == 0, r
    assert run("dmsetup table --concise c1 c2", sh=sh).out == \
        "c1,,253:3,ro,0 8 linear 254:16 0,8 8 zero ;c2,U2,253:4,rw,0 2 zero \n".replace(
            "253:3", "3").replace("253:4", "4")


def test_rename_raises_an_event_only_with_a_live_table(disks):
    sh = sh_for(disks)
    run("dmsetup create a --table '0 8 zero'; dmsetup create --notable b; "
        "dmsetup rename a a2; dmsetup rename b b2", sh=sh)
    assert "Event number:      1\n" in run("dmsetup info a2", sh=sh).out
    r = run("dmsetup info b2", sh=sh)
    assert "Event number:      0\n" in r.out
    assert "Read Ahead" not in r.out
    assert r.err == "/dev/mapper/b2: open failed: No such device or address\n"


def test_missing_device_messages(disks):
    sh = sh_for(disks)
    assert run("dmsetup status nosuch", sh=sh).err == "Device does not exist.\nCommand failed.\n"
    assert run("dmsetup table nosuch", sh=sh).err == (
        "device-mapper: table ioctl on nosuch  failed: No such device or address\n"
        "Command failed.\n")


TREE_SETUP = ("dmsetup create lo --table '0 1000 striped 2 4 /dev/vda 0 /dev/vdb 0'; "
              "dmsetup create hi --table $'0 100 linear /dev/mapper/lo 0\\n100 100 linear /dev/vda 5000'; "
              "dmsetup create z --table '0 8 zero'; "
              "dmsetup create w --table '0 8 linear /dev/mapper/lo 0'")


def test_ls_tree_deps_and_noheadings_as_real_dmsetup(disks):
    # Expected text captured from dmsetup 1.02.205 on Linux 6.12 in the guest
    # for the same four devices.
    sh = sh_for(disks)
    assert run(TREE_SETUP, sh=sh).status == 0
    assert run("dmsetup ls --tree", sh=sh).out == (
        "hi (253:1)\n |- (254:0)\n `-lo (253:0)\n    |- (254:16)\n    `- (254:0)\n"
        "w (253:3)\n `-lo (253:0)\n    |- (254:16)\n    `- (254:0)\nz (253:2)\n")
    assert run("dmsetup ls --tree -o inverted", sh=sh).out == (
        " (254:0)\n |-hi (253:1)\n `-lo (253:0)\n    |-hi (253:1)\n    `-w (253:3)\n"
        " (254:16)\n `-lo (253:0)\n    |-hi (253:1)\n    `-w (253:3)\nz (253:2)\n")
    assert run("dmsetup ls --tree -o blkdevname", sh=sh).out.startswith(
        "hi <dm-1> (253:1)\n |- <vda> (254:0)\n `-lo <dm-0> (253:0)\n")
    assert run("dmsetup deps", sh=sh).out == (
        "hi: 2 dependencies\t: (254, 0) (253, 0)\n"
        "lo: 2 dependencies\t: (254, 16) (254, 0)\n"
        "w: 1 dependencies\t: (253, 0)\n"
        "z: 0 dependencies\t:\n")
    assert run("dmsetup info -c --noheadings", sh=sh).out == (
        "hi:253:1:L--w:0:2:0:\nlo:253:0:L--w:2:1:0:\nw:253:3:L--w:0:1:0:\nz:253:2:L--w:0:1:0:\n")
    assert run("dmsetup ls --tree -o bogus", sh=sh).status == 1


def test_info_without_table_interleaves_like_dmsetup(disks):
    # On one console the open error sits between State and Tables present,
    # where dmsetup reads the read-ahead.
    import io
    from dmfw.shell import Shell
    both = io.StringIO()
    sh = Shell(out=both, err=both)
    sh.run_line("dmsetup create --notable e; dmsetup info e")
    assert both.getvalue() == (
        "Name:              e\n"
        "State:             ACTIVE\n"
        "/dev/mapper/e: open failed: No such device or address\n"
        "Tables present:    None\n"
        "Open count:        0\n"
        "Event number:      0\n"
        "Major, minor:      253, 0\n"
        "Number of targets: 0\n\n")
