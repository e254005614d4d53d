# Command-line splitting for the firmware shell: POSIX-style quoting
# ('...', "...", backslash), bash's $'...' (so multi-line dm tables can be
# typed as on Linux), `;` between commands, `#` comments, `$?`, and `< FILE`.

from dmfw.errors import UsageError

_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"',
        "a": "\a", "b": "\b", "f": "\f", "v": "\v", "0": "\0", "e": "\x1b"}


# `$?` must be expanded when each command runs (after the one before it),
# so the splitter leaves this marker in its place.
STATUS = "\x00?"


def expand(argv, status):
    st = str(status)
    return [a.replace(STATUS, st) if STATUS in a else a for a in argv]


def split_commands(line):
    """Return [(argv, stdin_path_or_None)] for one input line."""
    cmds = []
    words = []
    cur = None
    redirect = None
    want_redirect = False
    i = 0
    n = len(line)
    st = STATUS

    while i < n:
        c = line[i]
        if c in " \t\r\n":
            if cur is not None:
                want_redirect, redirect = _end_word(cur, words, want_redirect, redirect)
                cur = None
            i += 1
        elif c == ";":
            if cur is not None:
                want_redirect, redirect = _end_word(cur, words, want_redirect, redirect)
                cur = None
            if want_redirect:
                raise UsageError("syntax error near unexpected token `;'")
            if words:
                cmds.append((words, redirect))
            words = []
            redirect = None
            i += 1
        elif c == "#" and cur is None:
            break
        elif c == "<" and cur is None:
            if want_redirect:
                raise UsageError("syntax error near unexpected token `<'")
            want_redirect = True
            i += 1
        elif c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                raise UsageError("unterminated quote")
            cur = (cur or "") + line[i + 1:j]
            i = j + 1
        elif c == "$" and i + 1 < n and line[i + 1] == "'":
            s, i = _ansi_c(line, i + 2)
            cur = (cur or "") + s
        elif c == "$" and i + 1 < n and line[i + 1] == "?":
            cur = (cur or "") + st
            i += 2
        elif c == '"':
            i += 1
            s = ""
            while True:
                if i >= n:
                    raise UsageError("unterminated quote")
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and line[i + 1] in '"\\$`':
                    s += line[i + 1]
                    i += 2
                elif c == "$" and i + 1 < n and line[i + 1] == "?":
                    s += st
                    i += 2
                else:
                    s += c
                    i += 1
            cur = (cur or "") + s
        elif c == "\\":
            if i + 1 < n:
                cur = (cur or "") + line[i + 1]
            i += 2
        else:
            cur = (cur or "") + c
            i += 1
    if cur is not None:
        want_redirect, redirect = _end_word(cur, words, want_redirect, redirect)
    if want_redirect:
        raise UsageError("syntax error near unexpected token `newline'")
    if words:
        cmds.append((words, redirect))
    return cmds


def _end_word(word, words, want_redirect, redirect):
    """A finished word is the file of a pending `<`, or the next argument."""
    if want_redirect:
        return False, word
    words.append(word)
    return False, redirect


def _ansi_c(line, i):
    out = ""
    n = len(line)
    while i < n:
        c = line[i]
        if c == "'":
            return out, i + 1
        if c == "\\" and i + 1 < n:
            e = line[i + 1]
            if e == "x":
                j = i + 2
                h = ""
                while j < n and len(h) < 2 and line[j] in "0123456789abcdefABCDEF":
                    h += line[j]
                    j += 1
                out += chr(int(h, 16)) if h else "\\x"
                i = j
                continue
            out += _ESC.get(e, "\\" + e)
            i += 2
            continue
        out += c
        i += 1
    raise UsageError("unterminated quote")


def incomplete(line):
    """True when `line` ends inside a quote, so the shell reads on."""
    try:
        split_commands(line)
    except UsageError as e:
        return str(e) == "unterminated quote"
    return False
