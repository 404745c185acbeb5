"""Real-world MLproject files: does mlrun run what MLflow runs, with the same command?

    python -m bench.compat_corpus collect MIRRORS CORPUS   # git mirrors -> project folders + list
    python -m bench.compat_corpus compare CORPUS           # MLflow (side venv) vs mlrun

`collect` copies, from each git mirror (a folder of `owner+name/repo` git directories), every
folder holding an MLproject at HEAD, with its small files (env files, data named by defaults),
to CORPUS/owner+name/path, and prints the `repo path commit` lines kept in compat_corpus.txt.
`compare` renders every entry point with default parameters by both loaders and prints the
figures: files found, MLflow loads, mlrun same command, and each refusal with its class.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

from mlrun_cli.errors import SpecError
from tests.project.mlflow_render import mlflow_commands, mlrun_commands
from tests.services.mlflow_env import ensure_mlflow_python

MAX_BLOB = 200_000


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def collect(mirrors: Path, corpus: Path) -> None:
    for repo in sorted(p / "repo" for p in mirrors.iterdir() if (p / "repo").exists()):
        commit = _git(repo, "rev-parse", "HEAD").strip()
        listing = [line.split(None, 4) for line in _git(repo, "ls-tree", "-r", "-l", "HEAD").splitlines()]
        blobs = {path: (sha, size) for _, kind, sha, size, path in listing if kind == "blob"}
        for spec in (p for p in blobs if Path(p).name.lower() == "mlproject"):
            folder = Path(spec).parent
            target = corpus / repo.parent.name / folder
            for path, (sha, size) in blobs.items():
                inside = folder == Path(".") or Path(path).is_relative_to(folder)
                if inside and size.isdigit() and int(size) <= MAX_BLOB:
                    out = corpus / repo.parent.name / path
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(
                        subprocess.run(
                            ["git", "-C", str(repo), "cat-file", "blob", sha], capture_output=True, check=True
                        ).stdout
                    )
            if target.is_dir():
                print(repo.parent.name.replace("+", "/", 1), spec, commit)


def _refusal_class(problems: list[str]) -> str:
    """A short name for why mlrun refused (the first problem decides)."""
    text = problems[0]
    for fragment, name in (
        ("unknown key (did you mean", "near miss of a known key"),
        ("is read as one key", "missing space in a flow mapping"),
        ("duplicate key", "duplicate key"),
        ("is not a declared parameter", "undeclared placeholder"),
        ("not a python_env file", "python_env names a requirements file"),
        ("a mapping inside a pip list", "mapping inside a pip list"),
        ("invalid for type", "default does not fit its type"),
        ("is not one of: string", "misspelt parameter type"),
        ("file not found", "env file missing"),
        ("image reference", "invalid image reference"),
        ("UTF-16", "env file not UTF-8"),
        ("only one environment", "two environments"),
    ):
        if fragment in text:
            return name
    return "other: " + text


def compare(corpus: Path) -> int:
    projects = sorted(p.parent for p in corpus.rglob("*") if p.name.lower() == "mlproject" and p.is_file())
    seen = mlflow_commands(ensure_mlflow_python(), projects)
    loads = same = 0
    differ: list[str] = []
    refusals: collections.Counter[str] = collections.Counter()
    for directory in projects:
        mlflow = seen[str(directory)]
        if "load_error" in mlflow:
            continue
        theirs = {k: v for k, v in mlflow["commands"].items() if not str(v).startswith("ERROR")}  # type: ignore[union-attr]
        loads += 1
        try:
            ours, _ = mlrun_commands(directory)
        except SpecError as err:
            kind = _refusal_class(err.details())
            refusals[kind] += 1
            print(f"refused [{kind}] {directory.relative_to(corpus)}: {err.details()[0]}")
            continue
        if all(ours.get(name) == command for name, command in theirs.items()):
            same += 1
        else:
            differ.append(str(directory.relative_to(corpus)))
            for name, command in theirs.items():
                if ours.get(name) != command:
                    where = f"{directory.relative_to(corpus)} [{name}]"
                    print(f"differs {where}:\n  mlflow: {command}\n  mlrun:  {ours.get(name)}")
    print(f"\nfiles found: {len(projects)}")
    print(f"MLflow loads: {loads}")
    print(f"mlrun runs with the same command: {same}")
    print(f"mlrun renders differently: {len(differ)}")
    print(f"mlrun refuses: {sum(refusals.values())}")
    for kind, count in refusals.most_common():
        print(f"  {count:3d}  {kind}")
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["collect"]:
        collect(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(compare(Path(sys.argv[-1])))
