"""dmfw.boot.version against systemd's own test vectors (src/test/test-string-util.c,
test_strverscmp_improved) and the counter rules of systemd-boot's
boot_entry_parse_tries / boot_entry_compare (src/boot/boot.c)."""
import pytest

from dmfw.boot.version import (vercmp, parse_counter, format_counter, next_try,
                               split_version, compare, sort_versions)

# Each one is newer than every one before it.
ORDERED = [
    "~1", "", "ab", "abb", "abc", "0001", "002", "12", "122", "122.9", "123~rc1",
    "123", "123-a", "123-a.1", "123-a1", "123-a1.1", "123-3", "123-3.1", "123^patch1",
    "123^1", "123.a-1", "123.1-1", "123a-1", "124",
]

NEWER = [
    ("123.45-67.88", "123.45-67.89"), ("123.45-67.89", "123.45-67.89a"),
    ("123.45-67.ab", "123.45-67.89"), ("123.45-67.9", "123.45-67.89"),
    ("123.45-67", "123.45-67.89"), ("123.45-66.89", "123.45-67.89"),
    ("123.45-9.99", "123.45-67.89"), ("123.42-99.99", "123.45-67.89"),
    ("123-99.99", "123.45-67.89"),
    ("123~rc1-99.99", "123.45-67.89"), ("123~rc1-99.99", "123-45.67.89"),
    ("123~rc1-99.99", "123~rc2-67.89"), ("123~rc1-99.99", "123^aa2-67.89"),
    ("123~rc1-99.99", "123aa2-67.89"),
    ("123-99.99", "123.45-67.89"), ("123-99.99", "123^aa2-67.89"),
    ("123-99.99", "123aa2-67.89"),
    ("123^45-67.89", "123.45-67.89"), ("123^aa1-99.99", "123^aa2-67.89"),
    ("123^aa2-67.89", "123aa2-67.89"),
    ("123.aa2-67.89", "123aa2-67.89"), ("123.aa2-67.89", "123.ab2-67.89"),
]

# (a, b, sign of strverscmp_improved(a, b))
SIGNS = [
    ("123_aa2-67.89", "123aa+2-67.89", 0),
    ("123.", "123", 1), ("12_3", "123", -1), ("12_3", "12", 1), ("12_3", "12.3", 1),
    ("123.0", "123", 1), ("123_0", "123", 1), ("123..0", "123.0", -1),
    ("", None, 0), (None, "", 0), ("0_", "0", 0), ("_0_", "0", 0), ("_0", "0", 0),
    ("0", "0___", 0), ("", "_", 0), ("_", "", 0), ("_", "_", 0), ("", "~", 1),
    ("~", "", -1), ("~", "~", 0),
    # RPM compatibility
    ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0", "1.0", 1), ("2.0.1", "2.0.1", 0),
    ("2.0", "2.0.1", -1), ("2.0.1", "2.0", 1), ("2.0.1a", "2.0.1a", 0),
    ("2.0.1a", "2.0.1", 1), ("2.0.1", "2.0.1a", -1), ("5.5p1", "5.5p1", 0),
    ("5.5p1", "5.5p2", -1), ("5.5p2", "5.5p1", 1), ("5.5p10", "5.5p10", 0),
    ("5.5p1", "5.5p10", -1), ("5.5p10", "5.5p1", 1), ("10xyz", "10.1xyz", 1),
    ("10.1xyz", "10xyz", -1), ("xyz10", "xyz10", 0), ("xyz10", "xyz10.1", -1),
    ("xyz10.1", "xyz10", 1), ("xyz.4", "xyz.4", 0), ("xyz.4", "8", -1),
    ("8", "xyz.4", 1), ("xyz.4", "2", -1), ("2", "xyz.4", 1), ("5.5p2", "5.6p1", -1),
    ("5.6p1", "5.5p2", 1), ("5.6p1", "6.5p1", -1), ("6.5p1", "5.6p1", 1),
    ("6.0.rc1", "6.0", 1), ("6.0", "6.0.rc1", -1), ("10b2", "10a1", 1),
    ("10a2", "10b2", -1), ("1.0aa", "1.0aa", 0), ("1.0a", "1.0aa", -1),
    ("1.0aa", "1.0a", 1), ("10.0001", "10.0001", 0), ("10.0001", "10.1", 0),
    ("10.1", "10.0001", 0), ("10.0001", "10.0039", -1), ("10.0039", "10.0001", 1),
    ("4.999.9", "5.0", -1), ("5.0", "4.999.9", 1), ("20101121", "20101121", 0),
    ("20101121", "20101122", -1), ("20101122", "20101121", 1), ("2_0", "2_0", 0),
    ("2.0", "2_0", -1), ("2_0", "2.0", 1),
    # tilde
    ("1.0~rc1", "1.0~rc1", 0), ("1.0~rc1", "1.0", -1), ("1.0", "1.0~rc1", 1),
    ("1.0~rc1", "1.0~rc2", -1), ("1.0~rc2", "1.0~rc1", 1),
    ("1.0~rc1~git123", "1.0~rc1~git123", 0), ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0~rc1", "1.0~rc1~git123", 1),
    # caret
    ("1.0^", "1.0^", 0), ("1.0^", "1.0", 1), ("1.0", "1.0^", -1),
    ("1.0^git1", "1.0^git1", 0), ("1.0^git1", "1.0", 1), ("1.0", "1.0^git1", -1),
    ("1.0^git1", "1.0^git2", -1), ("1.0^git2", "1.0^git1", 1), ("1.0^git1", "1.01", -1),
    ("1.01", "1.0^git1", 1), ("1.0^20160101", "1.0^20160101", 0),
    ("1.0^20160101", "1.0.1", -1),
]


def _newer(older, newer):
    assert vercmp(older, newer) == -1
    assert vercmp(newer, older) == 1
    assert vercmp(older, older) == 0
    assert vercmp(newer, newer) == 0


def test_systemd_ordered_list():
    for i, a in enumerate(ORDERED):
        for b in ORDERED[i + 1:]:
            _newer(a, b)


@pytest.mark.parametrize("older,newer", NEWER)
def test_systemd_newer_pairs(older, newer):
    _newer(older, newer)


def test_systemd_signs():
    bad = [(a, b, s, vercmp(a, b)) for a, b, s in SIGNS if vercmp(a, b) != s]
    assert not bad


def test_vercmp_never_hangs_on_separators_only():
    for s in ("--", "-^.", "..~~", "^^^", "-~-", "1--2", "a.-b", "~-^."):
        for t in ("--", "-", "", "~", "1", "a", ".^"):
            assert vercmp(s, t) == -vercmp(t, s)


@pytest.mark.parametrize("name,want", [
    ("foobar+3", ("foobar", 3, None)),
    ("foobar+4-0", ("foobar", 4, 0)),
    ("foobar+0-3", ("foobar", 0, 3)),
    ("infix_25.01+1-2", ("infix_25.01", 1, 2)),
    ("a+b+2", ("a+b", 2, None)),            # the last '+'
    ("a+2+x", ("a+2+x", None, None)),       # counter in the middle: none
    ("foo+", ("foo+", None, None)),
    ("foo+3-", ("foo+3-", None, None)),
    ("foo+-3", ("foo+-3", None, None)),
    ("foo+3-1-1", ("foo+3-1-1", None, None)),
    ("foo+2147483647", ("foo", 2147483647, None)),
    ("foo+2147483648", ("foo+2147483648", None, None)),   # > INT_MAX
    ("foo+1-2147483648", ("foo+1-2147483648", None, None)),
    ("foo+0007-01", ("foo", 7, 1)),
    ("foo+" + "0" * 30 + "5", ("foo", 5, None)),
    ("foo+" + "9" * 5000, ("foo+" + "9" * 5000, None, None)),
    ("foo+\u0663", ("foo+\u0663", None, None)),   # a non-ASCII digit
    ("plain", ("plain", None, None)),
])
def test_parse_counter(name, want):
    assert parse_counter(name) == want


def test_counter_series_as_systemd_boot():
    # boot.c: foobar+3 -> foobar+2-1 -> foobar+1-2 -> foobar+0-3 -> STOP
    name = "foobar+3"
    seen = []
    for _ in range(5):
        base, left, done = parse_counter(name)
        name = format_counter(base, *next_try(left, done))
        seen.append(name)
    assert seen == ["foobar+2-1", "foobar+1-2", "foobar+0-3", "foobar+0-4",
                    "foobar+0-5"]
    assert next_try(0, 2147483647) == (0, 2147483647)
    for n in ("x+3", "x+4-0", "x", "x_1.2+0-9"):
        assert format_counter(*parse_counter(n)) == n


def test_split_version():
    assert split_version("infix_25.01.0") == ("infix", "25.01.0")
    assert split_version("a_b_c") == ("a", "b_c")
    assert split_version("rootfs") == ("rootfs", None)


def test_compare_as_boot_entry_compare():
    K = lambda left, sk, mid, ver, i, done=None: (left, done, sk, mid, ver, i)  # noqa
    items = [
        K(0, "a", None, "9", "bad"),            # no tries left: last of all
        K(None, None, None, None, "old-2"),     # no sort-key: after the sort-keyed
        K(None, None, None, None, "old-10"),
        K(None, "b", None, "5", "b5"),
        K(None, "a", "m2", "1", "a-m2"),
        K(None, "a", "m1", "1.2", "a12"),
        K(None, "a", "m1", "1.10", "a110"),
        K(2, "a", "m1", "1.10", "a110+2", 1),
        K(3, "a", "m1", "1.10", "a110+2", 0),
        K(3, "a", "m1", "1.10", "a110+2", 2),
    ]
    got = sort_versions(items, lambda k: k)
    assert [(k[5], k[0], k[1]) for k in got] == [
        ("a110+2", 3, 0), ("a110+2", 3, 2), ("a110+2", 2, 1), ("a110", None, None),
        ("a12", None, None), ("a-m2", None, None), ("b5", None, None),
        ("old-10", None, None), ("old-2", None, None), ("bad", 0, None)]
    assert compare(items[3], items[3]) == 0
