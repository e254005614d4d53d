# The LVM2 text metadata format, read the way libdm's config parser reads it
# (libdm-config.c): `key = value`, `key { ... }`, values int / float /
# "escaped string" / 'raw string' / bare word / [list], `#` comments.
# Nothing is dropped: a Section keeps every item, in order and including
# duplicates, so `dump` writes back all that lvm2 wrote.

from dmfw.errors import FormatError

_SPACE = " \t\n\r\f\v"
# Characters that end an identifier or bare word (besides whitespace).
_ID_END = "#={}"
_DIGITS = "0123456789"

# Token kinds.
_EOF = 0
_SEC_B = 1
_SEC_E = 2
_ARR_B = 3
_ARR_E = 4
_COMMA = 5
_EQ = 6
_INT = 7
_FLOAT = 8
_STR = 9        # "..." with \" and \\ escapes
_RAW = 10       # '...' taken as is
_IDENT = 11
_BARE = 12      # an unquoted word where a value is expected


class Section:
    """A `name { ... }` block (the whole text is a nameless one)."""

    def __init__(self, name=None):
        self.name = name
        self.items = []     # [(key, value)]; a value may be a Section

    def get(self, key, default=None):
        for k, v in self.items:
            if k == key:
                return v
        return default

    def __getitem__(self, key):
        for k, v in self.items:
            if k == key:
                return v
        raise KeyError(key)

    def __contains__(self, key):
        for k, _ in self.items:
            if k == key:
                return True
        return False

    def keys(self):
        return [k for k, _ in self.items]

    def sections(self):
        return [v for _, v in self.items if isinstance(v, Section)]

    def __eq__(self, other):
        return isinstance(other, Section) and self.name == other.name and \
            self.items == other.items

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "Section(%r, %r)" % (self.name, self.items)


class _Lexer:
    def __init__(self, text):
        # A NUL ends the text for lvm2 (the area is zero padded).
        i = text.find("\0")
        self.s = text if i < 0 else text[:i]
        self.n = len(self.s)
        self.pos = 0
        self.line = 1
        self.t = _EOF
        self.tb = 0
        self.te = 0

    def error(self, what):
        raise FormatError("Parse error at byte %d (line %d): %s"
                          % (self.tb + 1, self.line, what))

    def next(self, prev):
        s = self.s
        n = self.n
        p = self.te
        while p < n:
            c = s[p]
            if c == "#":
                while p < n and s[p] != "\n":
                    p += 1
            elif c in _SPACE:
                if c == "\n":
                    self.line += 1
                p += 1
            else:
                break
        self.tb = p
        if p >= n:
            self.t = _EOF
            self.te = p
            return
        c = s[p]
        q = p + 1
        values = prev == _EQ or prev == _ARR_B or prev == _COMMA
        if c == "{":
            t = _SEC_B
        elif c == "}":
            t = _SEC_E
        elif c == "[":
            t = _ARR_B
        elif c == "]":
            t = _ARR_E
        elif c == ",":
            t = _COMMA
        elif c == "=":
            t = _EQ
        elif c == '"':
            t = _STR
            while q < n and s[q] != '"':
                if s[q] == "\\" and q + 1 < n:
                    q += 1
                q += 1
            if q >= n:
                self.error("unterminated string")
            q += 1
        elif c == "'":
            t = _RAW
            while q < n and s[q] != "'":
                q += 1
            if q >= n:
                self.error("unterminated string")
            q += 1
        elif values and (c in _DIGITS or c in "+-."):
            t = _FLOAT if c == "." else _INT
            while q < n:
                d = s[q]
                if d not in _DIGITS:
                    if d == "." and t != _FLOAT:
                        t = _FLOAT
                    else:
                        break
                q += 1
        else:
            t = _BARE if values else _IDENT
            while q < n:
                d = s[q]
                if d in _SPACE or d in _ID_END:
                    break
                q += 1
        self.t = t
        self.te = q

    def text(self):
        return self.s[self.tb:self.te]


def _unescape(body):
    # dm_unescape_double_quotes(): only \" and \\ are escapes; any other
    # backslash stays.
    if "\\" not in body:
        return body
    out = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == "\\" and i + 1 < n and body[i + 1] in '"\\':
            c = body[i + 1]
            i += 1
        out.append(c)
        i += 1
    return "".join(out)


def _int(tok, lx):
    # strtoll(base 0): a leading 0 means octal; nothing may trail.
    sign = 1
    d = tok
    if d and d[0] in "+-":
        sign = -1 if d[0] == "-" else 1
        d = d[1:]
    if not d:
        lx.error("Failed to read int token.")
    try:
        v = int(d, 8) if len(d) > 1 and d[0] == "0" else int(d)
    except ValueError:
        lx.error("Failed to read int token.")
    return sign * v


def _value(lx):
    t = lx.t
    tok = lx.text()
    if t == _INT:
        v = _int(tok, lx)
    elif t == _FLOAT:
        try:
            v = float(tok)
        except ValueError:
            lx.error("Failed to read float token.")
    elif t == _STR:
        v = _unescape(tok[1:-1])
    elif t == _RAW:
        v = tok[1:-1]
    elif t == _BARE:
        v = tok
    else:
        lx.error("expected a value")
    lx.next(t)
    return v


def _array_or_value(lx):
    if lx.t != _ARR_B:
        return _value(lx)
    lx.next(_ARR_B)
    out = []
    while lx.t != _ARR_E:
        if lx.t == _EOF:
            lx.error("unterminated list")
        out.append(_value(lx))
        if lx.t == _COMMA:
            lx.next(_COMMA)
    lx.next(_ARR_E)
    return out


def _items(lx, sec, depth):
    while True:
        t = lx.t
        if t == _EOF:
            if depth:
                lx.error("unexpected end of text in section")
            return
        if t == _SEC_E:
            if not depth:
                lx.error("unexpected '}'")
            return
        if t == _STR:
            key = _unescape(lx.text()[1:-1])
        elif t == _RAW:
            key = lx.text()[1:-1]
        elif t == _IDENT:
            key = lx.text()
        else:
            lx.error("expected an identifier")
        if not key:
            lx.error("empty section identifier")
        lx.next(t)
        if lx.t == _SEC_B:
            if depth >= 64:
                lx.error("sections nested too deep")
            child = Section(key)
            lx.next(_SEC_B)
            _items(lx, child, depth + 1)
            lx.next(_SEC_E)
            sec.items.append((key, child))
        elif lx.t == _EQ:
            lx.next(_EQ)
            sec.items.append((key, _array_or_value(lx)))
        else:
            lx.error("expected '=' or '{'")


def parse(text):
    """Metadata text (str, bytes or bytearray) → top-level Section."""
    if not isinstance(text, str):
        try:
            text = str(bytes(text), "utf-8")
        except UnicodeError:
            raise FormatError("Metadata text is not valid UTF-8")
    lx = _Lexer(text)
    lx.next(_SEC_E)
    root = Section()
    _items(lx, root, 0)
    return root


# -- writing back, in lvm2's layout (export.c): tabs, `key = value`.

def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fmt(v):
    if isinstance(v, str):
        return _quote(v)
    if isinstance(v, list):
        return "[" + ", ".join([_fmt(x) for x in v]) + "]"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _key(k):
    for c in k:
        if c in _SPACE or c in _ID_END or c in "\"'[],":
            return _quote(k)
    return k


def dump(sec, indent=0, out=None):
    top = out is None
    if top:
        out = []
    pad = "\t" * indent
    for k, v in sec.items:
        if isinstance(v, Section):
            out.append("%s%s {\n" % (pad, _key(k)))
            dump(v, indent + 1, out)
            out.append("%s}\n" % pad)
        else:
            out.append("%s%s = %s\n" % (pad, _key(k), _fmt(v)))
    if top:
        return "".join(out)
