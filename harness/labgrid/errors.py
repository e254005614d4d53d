"""One sentence naming what is missing when a labgrid run cannot reach the dmfw shell.

labgrid reports a missing coordinator, a vanished exporter or a refused remote port
as exceptions several causes deep ("DmfwStrategy is in broken state" over "Broken
pipe" over ...); a person at a lab wants the piece that is gone.
"""


def chain(exc):
    """exc and its causes, outermost first."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def coordinator_address(config):
    """The coordinator a pytest --lg-env run talks to, as labgrid chooses it."""
    import os
    try:
        from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY
        env = config.stash.get(LABGRID_ENV_KEY, None)
    except ImportError:
        env = None
    default = os.environ.get("LG_COORDINATOR", "127.0.0.1:20408")
    return env.config.get_option("coordinator_address", default) if env else default


def explain(exc, coordinator):
    """What is missing, from the chain of exc; the chain itself when nothing known fits."""
    causes = chain(exc)
    text = " <- ".join("%s: %s" % (type(e).__name__, e) for e in causes)
    if any("connect to coordinator" in str(e) for e in causes):
        what = ("labgrid coordinator %s unreachable (is labgrid-coordinator running? "
                "the address comes from --lg-coordinator, LG_COORDINATOR or the "
                "environment's coordinator_address)" % coordinator)
    elif any("acquired" in str(e) for e in causes):
        # labgrid's own words name the holder and the way out (`allow`, `--kick`).
        what = next(str(e) for e in reversed(causes) if "acquired" in str(e))
        what = what.replace("Error: ", "", 1)
    elif any("orphaned resource" in str(e) for e in causes):
        what = "the place's exporter is gone from coordinator %s" % coordinator
    elif any("Could not open serial port" in str(e) for e in causes):
        port = next(str(e) for e in causes if "Could not open serial port" in str(e))
        what = ("the console port is not there (%s): its exporter or ser2net is gone, "
                "or the UART unplugged" % port.split("?")[0].replace("Could not open ", ""))
    else:
        return "labgrid could not reach the dmfw shell: " + text
    return "%s\n  (labgrid said: %s)" % (what, text)
