# getopt_long as the Linux tools use it: options anywhere among the
# arguments, `--opt=value` or `--opt value`, bundled one-letter flags (-rf).

from dmfw.errors import UsageError


def getopt(argv, spec, alias, unknown, needs_value):
    """argv[1:] -> (opts, args). `spec` maps an option to 1 when it takes a
    value; `alias` maps short spellings to long ones. A flag's value is the
    number of times it was given. `unknown` and `needs_value` are the tool's
    own messages, formatted with the option."""
    opts = {}
    args = []
    i = 1
    while i < len(argv):
        a = argv[i]
        val = None
        if a.startswith("--") and "=" in a:
            a, val = a.split("=", 1)
        if a in spec:
            key = alias.get(a, a)
            if spec[a]:
                if val is None:
                    if i + 1 >= len(argv):
                        raise UsageError(needs_value % a)
                    val = argv[i + 1]
                    i += 1
                opts[key] = val
            else:
                opts[key] = opts.get(key, 0) + 1
        elif a.startswith("-") and len(a) > 2 and a[1] != "-" and \
                all([("-" + c) in spec and not spec["-" + c] for c in a[1:]]):
            for c in a[1:]:
                k = alias.get("-" + c, "-" + c)
                opts[k] = opts.get(k, 0) + 1
        elif a.startswith("-") and a != "-":
            raise UsageError(unknown % a)
        else:
            args.append(a)
        i += 1
    return opts, args
