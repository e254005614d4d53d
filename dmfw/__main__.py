# python3 -m dmfw shell ...   (also: micropython -m dmfw shell ...)
import sys


def run(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("shell",):
        sys.stderr.write("usage: dmfw shell [--disk /dev/NAME=FILE]... [-c CMDS]\n")
        return 2
    from dmfw.shell import main
    return main(argv[1:])


def console():
    # The `dmfw` console script: `dmfw shell ...`.
    sys.exit(run())


if __name__ == "__main__":
    sys.exit(run())
