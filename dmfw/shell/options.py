# getopt_long as the Linux tools use it, the one option parser of every
# shell command: options anywhere among the arguments (GNU permutation),
# `--opt=value` or `--opt value`, `-ovalue` or `-o value`, bundled
# one-letter flags (-rf), unique abbreviations of long options (--tab for
# --table), and `--` ending the options.

from dmfw.errors import UsageError


def _long(a, spec, ambiguous):
    """The long option `a` names: itself, or the one it abbreviates."""
    if a in spec:
        return a
    hits = [k for k in spec if k.startswith(a) and k.startswith("--")]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1 and ambiguous:
        raise UsageError(ambiguous % a)
    return None


def _put(opts, key, val, kind):
    if kind == 2:
        opts.setdefault(key, []).append(val)
    else:
        opts[key] = val


def getopt(argv, spec, alias, unknown, needs_value, ambiguous=None,
           no_value=None):
    """argv[1:] -> (opts, args). `spec` maps an option ("-r", "--readonly")
    to 1 when it takes a value, 2 when it takes one each time it is given
    (kept as a list: lvm's `-o a -o +b`), 0 when not; `alias` maps spellings to the
    key stored (short to long). A flag's value is the number of times it
    was given; a valued option keeps its last value. `unknown`,
    `needs_value`, `ambiguous` and `no_value` are the tool's own messages,
    formatted with the option as the user wrote it."""
    opts = {}
    args = []
    i = 1
    n = len(argv)
    while i < n:
        a = argv[i]
        i += 1
        if a == "--":
            args.extend(argv[i:])
            break
        if a == "-" or not a.startswith("-"):
            args.append(a)
            continue
        if a.startswith("--"):
            val = None
            if "=" in a:
                a, val = a.split("=", 1)
            key = _long(a, spec, ambiguous)
            if key is None:
                raise UsageError(unknown % a)
            if spec[key]:
                if val is None:
                    if i >= n:
                        raise UsageError(needs_value % key)
                    val = argv[i]
                    i += 1
                _put(opts, alias.get(key, key), val, spec[key])
            elif val is not None:
                raise UsageError((no_value or unknown) % key)
            else:
                k = alias.get(key, key)
                opts[k] = opts.get(k, 0) + 1
            continue
        # One-letter options, bundled; the first that takes a value takes
        # the rest of the word, or the next argument.
        j = 1
        while j < len(a):
            o = "-" + a[j]
            j += 1
            if o not in spec:
                raise UsageError(unknown % a)
            k = alias.get(o, o)
            if not spec[o]:
                opts[k] = opts.get(k, 0) + 1
                continue
            if j < len(a):
                _put(opts, k, a[j:], spec[o])
            elif i < n:
                _put(opts, k, argv[i], spec[o])
                i += 1
            else:
                raise UsageError(needs_value % o)
            break
    return opts, args
