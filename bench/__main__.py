"""Run every benchmark module found in bench/ (python3 -m bench [--quick]).

Each prints its figures as ratios against a reference measured in the same
run; a module that cannot run here says why and the others go on."""

import os
import sys
import traceback


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.dirname(here))
    names = sorted(f[:-3] for f in os.listdir(here)
                   if f.endswith("_bench.py"))
    only = [a for a in sys.argv[1:] if not a.startswith("-")]
    status = 0
    for name in names:
        if only and name not in only and name[:-6] not in only:
            continue
        print("== %s" % name, flush=True)
        try:
            mod = __import__("bench." + name, None, None, ["main"])
            flags = [a for a in sys.argv[1:] if a.startswith("-")]
            rc = mod.main(flags) if mod.main.__code__.co_argcount else mod.main()
            status = status or (rc or 0)
        except SystemExit as e:
            status = status or (e.code or 0)
        except Exception:
            traceback.print_exc()
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
