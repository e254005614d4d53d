# Tools read targets the way lvm2 and cryptsetup read the kernel: through
# their status and table lines, or an accessor the target documents. This
# test reads the shell and the LVM report statically and fails on a
# target's private state or another package's underscore names.

import ast
import os

import pytest

from shellrun import ROOT

TOOLS = sorted([os.path.join("dmfw", "shell", f)
                for f in os.listdir(os.path.join(ROOT, "dmfw", "shell")) if f.endswith(".py")]
               + [os.path.join("dmfw", "lvm", "report.py")])


def _target_api():
    """What a tool may use on a target: the Target interface and the
    public methods target classes define (their documented accessors),
    never data attributes set up by a constructor."""
    import inspect
    from dmfw.target import Target
    from dmfw.targets import _MODULES, target_class
    ok = set([n for n in dir(Target) if not n.startswith("_")])
    ok.discard("ctx")
    for name, _m in _MODULES:
        cls = target_class(name)
        for n, v in cls.__dict__.items():
            if not n.startswith("_") and inspect.isfunction(v):
                ok.add(n)
    return ok | set(["begin", "length"])


def _package(path):
    return os.path.dirname(path).replace(os.sep, ".")


def _targets_expr(node):
    # `x.targets`, `x.targets[i]`, `x.live.targets`..., or a helper's
    # result: `t = _verity_target(sh, name)`.
    if isinstance(node, ast.Call):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
        return name.endswith("target")
    if isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Attribute) and node.attr == "targets"


def _violations(path, api):
    tree = ast.parse(open(os.path.join(ROOT, path)).read(), path)
    own = _package(path)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("dmfw") and node.module != own and \
                not node.module.startswith(own + "."):
            for a in node.names:
                if a.name.startswith("_"):
                    bad.append("%s:%d imports %s.%s" % (path, node.lineno, node.module, a.name))
    # Names bound to targets are tracked per function (a `t` may be a
    # table in one function and a target in the next).
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.Lambda)):
            bad.extend(_function_violations(path, fn, api))
    return sorted(set(bad))


def _function_violations(path, tree, api):
    bad = []
    target_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and _targets_expr(node.iter) and \
                isinstance(node.target, ast.Name):
            target_names.add(node.target.id)
        elif isinstance(node, ast.comprehension) and _targets_expr(node.iter) and \
                isinstance(node.target, ast.Name):
            target_names.add(node.target.id)
        elif isinstance(node, ast.Assign) and _targets_expr(node.value):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    target_names.add(t.id)
                elif isinstance(t, ast.Tuple) and isinstance(node.value, ast.Call):
                    # md, t = _verity_target(...): the last name is the target
                    if t.elts and isinstance(t.elts[-1], ast.Name):
                        target_names.add(t.elts[-1].id)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        v = node.value
        a = node.attr
        if a.startswith("_") and not a.startswith("__") and \
                not (isinstance(v, ast.Name) and v.id in ("self", "cls")):
            bad.append("%s:%d reads private %s" % (path, node.lineno, a))
        if isinstance(v, ast.Name) and v.id in target_names and a not in api:
            bad.append("%s:%d reads target state %s.%s" % (path, node.lineno, v.id, a))
    for node in ast.walk(tree):
        # getattr(t, "x") / hasattr(t, "x") on a target is the same thing.
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("getattr", "hasattr") and len(node.args) >= 2 and \
                isinstance(node.args[0], ast.Name) and node.args[0].id in target_names:
            bad.append("%s:%d probes target with %s" % (path, node.lineno, node.func.id))
    return bad


@pytest.mark.parametrize("path", TOOLS)
def test_tools_use_only_status_lines_and_accessors(path):
    assert _violations(path, _target_api()) == []


def test_the_check_finds_what_it_forbids(tmp_path):
    # The check itself must be able to fail.
    src = ("from dmfw.verity.tree import _private\n"
           "def f(md):\n"
           "    for t in md.live.targets:\n"
           "        print(t.hash_failed, t.status(), t._x, getattr(t, 'mode'))\n")
    rel = os.path.join("dmfw", "shell", "zz_probe_%d.py" % os.getpid())
    path = os.path.join(ROOT, rel)
    with open(path, "w") as f:
        f.write(src)
    try:
        bad = _violations(rel, _target_api())
    finally:
        os.remove(path)
    text = "\n".join(bad)
    assert "imports dmfw.verity.tree._private" in text
    assert "reads target state t.hash_failed" in text
    assert "reads private _x" in text
    assert "probes target with getattr" in text
    assert "t.status" not in text
