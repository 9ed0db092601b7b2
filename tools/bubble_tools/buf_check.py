"""Checks the contracts in proto/: buf lint, buf format, and buf breaking against the change's base.

    ./pants run tools:buf-check                   # base chosen as below
    ./pants run tools:buf-check -- --against REF  # any git ref or commit

The base of the change is, in order: ``--against`` or ``$BUF_BREAKING_AGAINST``; ``HEAD`` when
proto/ has uncommitted changes (what you are about to commit); the merge base with ``main`` on
another branch; else ``HEAD``'s parent (the last commit, as CI sees it on main). Breaking is
skipped, saying why, when that base does not exist here (a shallow clone, the first commit) or has
no contracts yet.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bubble_shared.binaries import find_binary
from bubble_tools.repo import ROOT_MARKER, find_repo_root

MAIN_BRANCH = "main"


def _git(repo_root: Path, *args: str) -> str | None:
    """Output of a git command, or None when it fails (no git, not a repo, unknown ref)."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=repo_root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def choose_base(  # noqa: PLR0911 - one return per rule of the docstring, in order
    repo_root: Path, explicit: str | None
) -> tuple[str | None, str]:
    """The commit to compare against, and a sentence saying why it (or nothing) was chosen."""
    if explicit:
        commit = _git(repo_root, "rev-parse", "--verify", f"{explicit}^{{commit}}")
        if commit is None:
            return None, f"{explicit!r} is not a commit in this clone"
        return commit, f"the requested base {explicit}"
    if _git(repo_root, "rev-parse", "--verify", "HEAD") is None:
        return None, "there is no commit yet"
    if _git(repo_root, "status", "--porcelain", "--", "proto", ROOT_MARKER):
        return _git(repo_root, "rev-parse", "HEAD"), "HEAD (proto/ has uncommitted changes)"
    branch = _git(repo_root, "rev-parse", "--abbrev-ref", "HEAD")
    if branch not in (MAIN_BRANCH, "HEAD") and _git(
        repo_root, "rev-parse", "--verify", MAIN_BRANCH
    ):
        merge_base = _git(repo_root, "merge-base", "HEAD", MAIN_BRANCH)
        if merge_base:
            return merge_base, f"the merge base of {branch} with {MAIN_BRANCH}"
    parent = _git(repo_root, "rev-parse", "--verify", "HEAD^")
    if parent is None:
        return None, "HEAD has no parent here (first commit, or a shallow clone)"
    return parent, "HEAD's parent"


def run_checks(repo_root: Path, against: str | None) -> int:
    """Runs every check, reporting each; returns the number of checks that failed."""
    buf = str(find_binary("buf", package="buf-bin"))
    env = dict(os.environ)
    env.setdefault("BUF_CACHE_DIR", str(Path(tempfile.gettempdir()) / "bubble-buf-cache"))
    checks: list[tuple[str, list[str]]] = [
        ("buf lint", [buf, "lint"]),
        ("buf format", [buf, "format", "--diff", "--exit-code"]),
    ]
    base, why = choose_base(repo_root, against)
    if base is not None and _git(repo_root, "cat-file", "-e", f"{base}:{ROOT_MARKER}") is None:
        base, why = None, f"{why} has no {ROOT_MARKER} yet"
    if base is None:
        print(f"buf breaking: skipped, no base to compare with: {why}")
    else:
        print(f"buf breaking: against {base[:12]}, {why}")
        checks.append(("buf breaking", [buf, "breaking", "--against", f".git#ref={base}"]))

    failed = 0
    for name, command in checks:
        done = subprocess.run(command, cwd=repo_root, env=env, check=False)
        print(f"{name}: {'ok' if done.returncode == 0 else 'FAILED'}")
        failed += done.returncode != 0
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--against",
        default=os.environ.get("BUF_BREAKING_AGAINST") or None,
        help="git ref or commit to check breaking changes against (default: the change's base)",
    )
    args = parser.parse_args(argv)
    failed = run_checks(find_repo_root(), args.against)
    if failed:
        print(f"{failed} buf check(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
