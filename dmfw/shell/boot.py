# `boot`: find the installed OS versions, verify one, load its kernel from inside
# the verified image and hand it off (dmfw.boot does the work; this prints).
#
#   boot -l                     one line per version, in the order they are tried
#   boot -n|--dry-run [ENTRY]   what a boot would hand off; changes nothing on disk
#   boot [ENTRY]                boot counting, then the platform's hand-off (kexec)
#   boot --save DIR [ENTRY]     the same attempt, the files written into DIR
#   boot --bless ENTRY          drop ENTRY's boot counter (systemd-bless-boot)
# Options: --insecure (boot unsigned or untrusted versions), --root-hash HEX (trust
# this root hash instead of a signature), --certificate FILE (trust it too), --arch A,
# --compatible STR (the board's device-tree compatible; repeatable), --entry ID (a
# boot entry inside the version instead of the first).
# ENTRY is a version's name, with or without its counter.

from dmfw.errors import DMError, UsageError, ENODEV

USAGE = ("usage: boot [-l | -n | --save DIR | --bless] [--insecure] [--root-hash HEX] "
         "[--certificate FILE] [--arch A] [--compatible STR] [--entry ID] [ENTRY]")

_OPTS = {"-l": 0, "--list": 0, "-n": 0, "--dry-run": 0, "--save": 1, "--bless": 0,
         "--insecure": 0, "--root-hash": 1, "--certificate": 2, "--arch": 1,
         "--compatible": 2, "--entry": 1, "-h": 0, "--help": 0}
_ALIAS = {"-l": "--list", "-n": "--dry-run", "-h": "--help"}


def _parse(argv):
    from dmfw.shell.options import getopt
    opts, args = getopt(argv, _OPTS, _ALIAS, "boot: unknown option %s",
                        "boot: %s needs a value", "boot: ambiguous option %s",
                        "boot: %s takes no value")
    modes = [m for m in ("--list", "--dry-run", "--save", "--bless") if m in opts]
    if len(modes) > 1:
        raise UsageError("boot: %s and %s cannot be combined" % (modes[0], modes[1]))
    if len(args) > 1 or ("--bless" in opts and len(args) != 1):
        raise UsageError(USAGE)
    return opts, (args[0] if args else None)


def _table(rows):
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "".join("  ".join([r[i] + " " * (w[i] - len(r[i])) for i in range(len(w))])
                   + "  " + r[-1] + "\n" for r in rows)


def _signature(v, verify):
    from dmfw.boot.plan import root_hash_of, Skip
    if v.sig is None:
        return "unsigned"
    try:
        root_hash_of(v, verify)
        return "trusted"
    except Skip as e:
        return e.kind or "invalid"


def main(sh, argv):
    opts, want = _parse(argv)
    if "--help" in opts:
        sh.write(USAGE + "\n")
        return 0
    from dmfw.disk import dps
    from dmfw.boot.scan import Scan
    from dmfw.boot import handoff
    from dmfw.shell.ddi import signature_verifier
    arch = opts.get("--arch") or dps.native_arch()
    if arch is None or arch not in dps.architectures():
        raise UsageError("boot: unknown architecture %s: use --arch" % arch)
    verify = signature_verifier(sh, opts.get("--certificate", []))
    if not [m for m in ("--list", "--dry-run", "--save", "--bless") if m in opts]:
        handoff.check()
    sc = Scan(sh)
    versions = sc.run(arch)
    for n in sc.notes:
        sh.error("boot: " + n)
    keep = None
    try:
        if "--list" in opts:
            rows = [("NAME", "OS", "VERSION", "SOURCE", "SIGNATURE", "STATE")]
            for v in versions:
                rows.append((v.name, v.os or "-", v.version or "-", v.where,
                             _signature(v, verify), v.state()))
            sh.write(_table(rows) if versions else "No OS versions found.\n")
            return 0
        if want is not None:
            versions = [v for v in versions if v.matches(want)]
            if not versions:
                raise DMError(ENODEV, "boot: no version %s" % want)
        if "--bless" in opts:
            return _bless(sh, sc, versions[0])
        plan = _choose(sh, versions, verify, {
            "insecure": "--insecure" in opts, "root_hash": opts.get("--root-hash"),
            "arch": arch, "compatible": opts.get("--compatible") or handoff.compatible(),
            "entry_id": opts.get("--entry"),
            # The sha256 lines are the dry run's report; a boot (and --save, the same
            # attempt) does not hash the kernel a second time after verity did.
            "digest": "--dry-run" in opts})
        if plan is None:
            return 1
        keep = plan.version.lv
        if "--dry-run" not in opts:
            _count(sh, sc, plan)
        sh.write("".join(line + "\n" for line in plan.lines()))
        if "--dry-run" in opts or "--save" in opts:
            # Nothing is handed off here: the mappings go again, so the next
            # command starts from the same state.
            from dmfw.boot.plan import teardown
            try:
                if "--save" in opts:
                    handoff.write_files(plan, opts["--save"])
            finally:
                teardown(sh.dm, plan.made)
                keep = None
            return 0
        handoff.handoff(plan, sh)
        return 0
    finally:
        sc.release(keep)


def _choose(sh, versions, verify, opts):
    """The first version that verifies and loads; one line on stderr for each one
    passed over, and one for the one chosen and why."""
    from dmfw.boot.plan import prepare, Skip
    for i, v in enumerate(versions):
        try:
            plan = prepare(sh, v, verify, opts)
        except Skip as e:
            sh.error("boot: %s: skipped: %s" % (v.name, e.msg))
            continue
        why = "newest good version" if not v.bad() else "only bad versions left"
        if i:
            why += " after %d skipped" % i
        sh.error("boot: %s: chosen (%s; %s)" % (v.name, why, plan.trust))
        return plan
    sh.error("boot: no version could be booted")
    return None


def _count(sh, sc, plan):
    from dmfw.boot import count
    v = plan.version
    new = count.next_name(v)
    if new is None or new == v.name:
        return
    old = v.name
    count.rename(sh, sc, v, new)
    plan.make_cmdline()
    sh.error("boot: %s: boot counting: renamed to %s" % (old, new))


def _bless(sh, sc, v):
    from dmfw.boot import count
    if v.left is None:
        sh.error("boot: %s has no boot counter" % v.name)
        return 0
    old = v.name
    count.rename(sh, sc, v, v.base)
    sh.error("boot: %s: blessed, now %s" % (old, v.base))
    return 0
