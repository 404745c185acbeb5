"""Bytecode of uv envs: written by their runs, not at build, and shared with later envs that hold
the same files (mlrun_cli/envs/bytecode.py). Real uv builds from the local wheelhouse, real
interpreters checking the bytecode they load."""

from __future__ import annotations

import io
import os
import py_compile
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib.util import cache_from_source
from pathlib import Path

import pytest

from mlrun_cli.envs.bytecode import (
    PYCACHE_DIR,
    Seeded,
    cache_tag,
    seed_from_siblings,
    seed_standard_library,
)
from tests.conftest import Result

Mlrun = Callable[..., Result]
Factory = Callable[[dict[str, str]], Path]
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
TAG = sys.implementation.cache_tag
SITE = f"lib/python{PY}/site-packages"


def _env_dirs(envs_dir: Path) -> list[Path]:
    return sorted(p for p in envs_dir.iterdir() if p.is_dir() and p.name != ".meta")


def _python_env(**settings: str) -> dict[str, str]:
    """The test's environment without the shell's PYTHON* settings, plus `settings`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | settings


def _loads_bytecode(site: Path, module: str, source: Path, pycache_prefix: Path | None = None) -> bool:
    """True when a real interpreter imports `module` from the .pyc it finds, compiling nothing."""
    env = _python_env(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    if pycache_prefix is not None:
        env["PYTHONPYCACHEPREFIX"] = str(pycache_prefix)
    result = subprocess.run(
        [sys.executable, "-v", "-c", f"import {module}"], env=env, capture_output=True, text=True, check=True
    )
    return f"matches {source}" in result.stderr


def test_cache_tag_names_the_interpreter_of_the_env_not_mlrun() -> None:
    assert cache_tag("3.11.7") == "cpython-311"
    assert cache_tag("3.13.0") == "cpython-313"
    assert cache_tag(".".join(map(str, sys.version_info[:3]))) == TAG


def test_a_new_env_takes_the_bytecode_of_the_files_it_shares(tmp_path: Path) -> None:
    """Only a source that is the same file (one inode, as uv's hardlinks make it) gets the other
    env's .pyc: a copy with equal bytes and time is skipped, an edited file is skipped, and a
    .pyc the new env already has is kept."""
    old, new = tmp_path / "uv-old", tmp_path / "uv-new"
    for env in (old, new):
        (env / SITE / "pkg").mkdir(parents=True)
    sources = {name: old / SITE / "pkg" / f"{name}.py" for name in ("shared", "copied", "edited", "own")}
    for name, path in sources.items():
        path.write_text(f"VALUE = {name!r}\n")
        py_compile.compile(str(path), cache_from_source(str(path)), doraise=True)
    os.link(sources["shared"], new / SITE / "pkg" / "shared.py")
    (new / SITE / "pkg" / "copied.py").write_text("VALUE = 'copied'\n")
    os.utime(new / SITE / "pkg" / "copied.py", ns=(0, sources["copied"].stat().st_mtime_ns))
    (new / SITE / "pkg" / "edited.py").write_text("VALUE = 'edited!'\n")
    os.link(sources["own"], new / SITE / "pkg" / "own.py")
    own_pyc = Path(cache_from_source(str(new / SITE / "pkg" / "own.py")))
    own_pyc.parent.mkdir()
    own_pyc.write_bytes(b"kept")

    # shared, in both layouts; own, under the prefix only (its __pycache__ one is kept)
    assert seed_from_siblings(new, [old], TAG) == Seeded(linked=2, siblings=1, damaged=0)
    shared_pyc = Path(cache_from_source(str(new / SITE / "pkg" / "shared.py")))
    assert shared_pyc.stat().st_ino == Path(cache_from_source(str(sources["shared"]))).stat().st_ino
    assert _loads_bytecode(new / SITE, "pkg.shared", new / SITE / "pkg" / "shared.py")
    for name in ("copied", "edited"):
        assert not Path(cache_from_source(str(new / SITE / "pkg" / f"{name}.py"))).exists(), name
    assert own_pyc.read_bytes() == b"kept"


def test_bytecode_under_an_env_prefix_is_shared_too(tmp_path: Path) -> None:
    """Where the user's shell says PYTHONDONTWRITEBYTECODE, runs write under <env>/pycache/<path>:
    the env's own files map to the new env's path, in both layouts (the next run's shell decides
    which it reads); others (the standard library, the project's own modules) stay under the
    prefix as they are, never beside the user's sources."""
    old, new, project = tmp_path / "uv-old", tmp_path / "uv-new", tmp_path / "project"
    (old / SITE / "pkg").mkdir(parents=True)
    (new / SITE / "pkg").mkdir(parents=True)
    project.mkdir()
    (project / "helper.py").write_text("")
    (old / SITE / "pkg" / "__init__.py").write_text("import json\n")
    os.link(old / SITE / "pkg" / "__init__.py", new / SITE / "pkg" / "__init__.py")
    env = _python_env(PYTHONPATH=f"{old / SITE}:{project}", PYTHONPYCACHEPREFIX=str(old / PYCACHE_DIR))
    subprocess.run([sys.executable, "-c", "import pkg, helper"], env=env, check=True)

    assert seed_from_siblings(new, [old], TAG).linked >= 3  # pkg, helper and json at least
    source = new / SITE / "pkg" / "__init__.py"
    assert _loads_bytecode(new / SITE, "pkg", source, pycache_prefix=new / PYCACHE_DIR)
    assert _loads_bytecode(new / SITE, "pkg", source)
    json_source = Path(sys.modules["json"].__file__ or "")
    json_pyc = new / PYCACHE_DIR / str(json_source.parent).lstrip(os.sep) / f"__init__.{TAG}.pyc"
    assert json_pyc.is_file(), "the standard library's bytecode was not shared"
    assert (new / PYCACHE_DIR / str(project).lstrip(os.sep) / f"helper.{TAG}.pyc").is_file()
    assert not (project / "__pycache__").exists(), "bytecode was put beside the user's sources"


def test_a_sibling_reached_through_a_symlink_is_matched_by_either_spelling(tmp_path: Path) -> None:
    """A symlinked $MLRUN_HOME: runs may have spelt the sibling's path either way in its prefix."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "home").symlink_to(real)
    old, new = tmp_path / "home" / "uv-old", tmp_path / "home" / "uv-new"
    for env in (old, new):
        (env / SITE / "pkg").mkdir(parents=True)
    (old / SITE / "pkg" / "__init__.py").write_text("")
    os.link(old / SITE / "pkg" / "__init__.py", new / SITE / "pkg" / "__init__.py")
    resolved_site = real / "uv-old" / SITE  # the run saw the real path
    env = _python_env(PYTHONPATH=str(resolved_site), PYTHONPYCACHEPREFIX=str(old / PYCACHE_DIR))
    subprocess.run([sys.executable, "-c", "import pkg"], env=env, check=True)
    assert seed_from_siblings(new, [old], TAG).linked >= 1
    assert _loads_bytecode(new / SITE, "pkg", new / SITE / "pkg" / "__init__.py", new / PYCACHE_DIR)


def test_seeding_never_fails_a_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault inside seeding (injected here: what a damaged sibling could raise) costs the
    speed-up, written to the build log, never the build."""
    from mlrun_cli.envs import bytecode, venvs
    from mlrun_cli.envs.cache import CachedEnv

    def broken(*_args: object) -> Seeded:
        raise MemoryError("bad marshal data")

    monkeypatch.setattr(bytecode, "seed_from_siblings", broken)
    log = io.StringIO()
    venvs.seed_bytecode(CachedEnv("uv", "k", tmp_path / "uv-k"), PY + ".0", log)
    assert "bytecode: not shared (MemoryError: bad marshal data)" in log.getvalue()


def test_damaged_or_foreign_siblings_cost_nothing_but_their_bytecode(tmp_path: Path) -> None:
    new = tmp_path / "uv-new"
    (new / SITE / "pkg").mkdir(parents=True)
    (new / SITE / "pkg" / "mod.py").write_text("")
    damaged = tmp_path / "uv-damaged"
    cache = damaged / SITE / "pkg" / "__pycache__"
    cache.mkdir(parents=True)
    (cache / "mod.pyc").write_bytes(b"")  # no tag
    os.link(new / SITE / "pkg" / "mod.py", damaged / SITE / "pkg" / "mod.py")
    (cache / f"mod.{TAG}.pyc").symlink_to(tmp_path / "nowhere")  # the same source, no bytecode
    (cache / f"gone.{TAG}.pyc").write_bytes(b"")  # its source is missing
    (damaged / PYCACHE_DIR).write_text("not a folder")
    assert seed_from_siblings(new, [damaged, tmp_path / "missing", new], TAG) == Seeded(0, 3, 0)
    assert not (new / SITE / "pkg" / "__pycache__").exists()


@pytest.mark.parametrize("cut", [3, 16, 40])
def test_a_cut_off_pyc_is_not_passed_on(tmp_path: Path, cut: int) -> None:
    """Python checks a .pyc's header only: a cut-off one fails every import of its module. A new
    env (one rebuilt to get rid of such a failure, say) must not inherit it."""
    old, new = tmp_path / "uv-old", tmp_path / "uv-new"
    for env in (old, new):
        (env / SITE / "pkg").mkdir(parents=True)
    for name in ("whole", "cut"):
        source = old / SITE / "pkg" / f"{name}.py"
        source.write_text(f"VALUE = {name!r} * 100\n")
        py_compile.compile(str(source), cache_from_source(str(source)), doraise=True)
        os.link(source, new / SITE / "pkg" / f"{name}.py")
    broken = Path(cache_from_source(str(old / SITE / "pkg" / "cut.py")))
    broken.write_bytes(broken.read_bytes()[:cut])
    # PYTHONDONTWRITEBYTECODE: Python would mend a short one in place
    env = _python_env(PYTHONPATH=str(old / SITE), PYTHONDONTWRITEBYTECODE="1")
    fails = subprocess.run(
        [sys.executable, "-c", "import pkg.cut"], env=env, capture_output=True, check=False
    )
    assert fails.returncode != 0 or cut < 16  # what Python does with it where it is

    # A header cut short is recompiled by Python: left out without a word. A whole header before
    # missing code is what fails: left out and counted for the warning.
    assert seed_from_siblings(new, [old], TAG) == Seeded(linked=1, siblings=1, damaged=int(cut >= 16))
    assert not Path(cache_from_source(str(new / SITE / "pkg" / "cut.py"))).exists()
    assert _loads_bytecode(new / SITE, "pkg.whole", new / SITE / "pkg" / "whole.py")


def test_the_standard_library_bytecode_is_linked_under_the_prefix(tmp_path: Path) -> None:
    """Under PYTHONPYCACHEPREFIX a run reads the standard library's bytecode there too: the
    interpreter's own .pyc files are linked in, and installed packages and tests are not."""
    stdlib, env = tmp_path / "lib" / f"python{PY}", tmp_path / "uv-new"
    for name in ("json/__init__", "site-packages/pkg/__init__", "test/test_x", "gone"):
        source = stdlib / f"{name}.py"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("")
        py_compile.compile(str(source), cache_from_source(str(source)), doraise=True)
    (stdlib / "gone.py").unlink()
    assert seed_standard_library(env, stdlib, TAG) == 1
    [linked] = (env / PYCACHE_DIR).rglob("*.pyc")
    expected = env / PYCACHE_DIR / str(stdlib).lstrip(os.sep) / "json" / f"__init__.{TAG}.pyc"
    assert linked == expected
    assert linked.stat().st_ino == Path(cache_from_source(str(stdlib / "json/__init__.py"))).stat().st_ino
    assert _loads_bytecode(stdlib, "json", stdlib / "json" / "__init__.py", env / PYCACHE_DIR)
    assert seed_standard_library(env, stdlib, TAG) == 0  # a second time links nothing twice


def _demo_a_pyc(env_dir: Path, under_prefix: bool) -> Path:
    [source] = env_dir.glob("lib/python*/site-packages/mlrun_demo_a/__init__.py")
    if under_prefix:
        return env_dir / PYCACHE_DIR / str(source.parent).lstrip(os.sep) / f"__init__.{TAG}.pyc"
    return Path(cache_from_source(str(source)))


@pytest.mark.parametrize(("first_shell", "second_shell"), [("1", "1"), ("", ""), ("", "1"), ("1", "")])
def test_a_uv_env_gets_the_bytecode_of_what_its_runs_import(
    first_shell: str,
    second_shell: str,
    mlrun: Mlrun,
    project_factory: Factory,
    offline: dict[str, str],
    envs_dir: Path,
) -> None:
    """No blanket compile at build: the first run writes the bytecode of what it imports, also
    where the shell sets PYTHONDONTWRITEBYTECODE (then inside the env's folder, never beside the
    user's sources), and nothing for what it does not import. An env built later for a changed
    requirement starts with that bytecode for the files it shares, and its first run uses it,
    whichever of the two settings each run's shell had."""
    command = "    command: python -c 'import helper, mlrun_demo_a'\n"
    project = project_factory(
        {
            "MLproject": f"python_env: python_env.yaml\nentry_points:\n  main:\n{command}",
            "python_env.yaml": f'python: "{PY}"\ndependencies: [mlrun-demo-b]\n',
            "helper.py": "",
        }
    )
    result = mlrun(
        "run", str(project), "--env-manager", "uv", env={**offline, "PYTHONDONTWRITEBYTECODE": first_shell}
    )
    assert result.returncode == 0, result.stderr
    [first] = _env_dirs(envs_dir)
    compiled = _demo_a_pyc(first, under_prefix=bool(first_shell))
    assert compiled.is_file(), "the run's import was not compiled"
    [module] = first.glob("lib/python*/site-packages/mlrun_demo_a/__init__.py")
    assert module.stat().st_nlink > 1, "not hardlinked from uv's cache (same file system here)"
    assert not list(first.rglob("*/mlrun_demo_b/**/*.pyc")), "a module no run imported was compiled"
    beside_sources = (project / "__pycache__").exists()
    assert beside_sources == (not first_shell), "the user's PYTHONDONTWRITEBYTECODE was not kept"
    if first_shell:  # under the prefix: the interpreter's own bytecode, used as it is
        [aliases] = (first / PYCACHE_DIR).rglob(f"encodings/aliases.{TAG}.pyc")
        own = cache_from_source(sys.modules["encodings.aliases"].__file__ or "")
        assert aliases.stat().st_ino == Path(own).stat().st_ino

    (project / "python_env.yaml").write_text(f'python: "{PY}"\ndependencies: [mlrun-demo-a]\n')
    shutil.rmtree(project / "__pycache__", ignore_errors=True)
    result = mlrun(
        "run", str(project), "--env-manager", "uv", env={**offline, "PYTHONDONTWRITEBYTECODE": second_shell}
    )
    assert result.returncode == 0, result.stderr
    [second] = [path for path in _env_dirs(envs_dir) if path != first]
    seeded = _demo_a_pyc(second, under_prefix=bool(second_shell))
    assert seeded.stat().st_ino == compiled.stat().st_ino, "the first run's bytecode was not reused"
    assert (project / "__pycache__").exists() == (not second_shell)
    log = (envs_dir / ".meta" / second.name / "build.log").read_text()
    assert "from 1 other environment(s)" in log, log


def test_a_damaged_pyc_in_another_env_is_left_out_with_a_warning(
    mlrun: Mlrun, project_factory: Factory, offline: dict[str, str], envs_dir: Path
) -> None:
    command = "    command: python -c 'import mlrun_demo_a'\n"
    project = project_factory(
        {
            "MLproject": f"python_env: python_env.yaml\nentry_points:\n  main:\n{command}",
            "python_env.yaml": f'python: "{PY}"\ndependencies: [mlrun-demo-b]\n',
        }
    )
    env = {**offline, "PYTHONDONTWRITEBYTECODE": ""}
    assert mlrun("run", str(project), "--env-manager", "uv", env=env).returncode == 0
    [first] = _env_dirs(envs_dir)
    [compiled] = first.rglob(f"*/mlrun_demo_a/**/__init__.{TAG}.pyc")
    compiled.write_bytes(compiled.read_bytes()[:20])  # what a damaged disk leaves
    (project / "python_env.yaml").write_text(f'python: "{PY}"\ndependencies: [mlrun-demo-a]\n')
    result = mlrun("run", str(project), "--env-manager", "uv", env=env)
    assert result.returncode == 0, result.stderr
    assert "warning: 1 damaged bytecode file(s) in other environments were left out" in result.stderr
    [second] = [path for path in _env_dirs(envs_dir) if path != first]
    [own] = second.rglob(f"*/mlrun_demo_a/**/__init__.{TAG}.pyc")
    assert own.stat().st_ino != compiled.stat().st_ino and own.stat().st_size > 20
