"""buf-check against real git repositories: which base it picks, and that each check can fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bubble_tools.buf_check import choose_base, run_checks
from bubble_tools.repo import find_repo_root

THING_PROTO = Path("proto/acme/sample/v1/thing.proto")
THING = """\
syntax = "proto3";

package acme.sample.v1;

// A thing in the sample contract.
message Thing {
  // Its name.
  string name = 1;
  // Its size in bytes.
  int64 size = 2;
}
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository with this project's buf.yaml and one committed, lint-clean contract on main."""
    shutil.copy(find_repo_root(Path(__file__).parent) / "buf.yaml", tmp_path / "buf.yaml")
    (tmp_path / THING_PROTO).parent.mkdir(parents=True)
    (tmp_path / THING_PROTO).write_text(THING)
    _git(tmp_path, "init", "--quiet", "--initial-branch=main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "--quiet", "--message=contracts")
    return tmp_path


def test_first_commit_passes_and_skips_breaking(repo: Path) -> None:
    assert choose_base(repo, None) == (
        None,
        "HEAD has no parent here (first commit, or a shallow clone)",
    )
    assert run_checks(repo, None) == 0


def test_uncommitted_field_removal_is_a_breaking_change_against_head(repo: Path) -> None:
    (repo / THING_PROTO).write_text(
        THING.replace("  // Its size in bytes.\n  int64 size = 2;\n", "")
    )

    base, why = choose_base(repo, None)

    assert base == _git(repo, "rev-parse", "HEAD")
    assert "uncommitted" in why
    assert run_checks(repo, None) == 1


def test_branch_is_compared_with_its_merge_base_with_main(repo: Path) -> None:
    main_head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "--quiet", "-b", "feature")
    added = THING.replace(
        "int64 size = 2;\n", "int64 size = 2;\n  // Its colour.\n  string colour = 3;\n"
    )
    (repo / THING_PROTO).write_text(added)
    _git(repo, "commit", "--quiet", "--all", "--message=add colour")

    assert choose_base(repo, None) == (main_head, "the merge base of feature with main")
    assert run_checks(repo, None) == 0


def test_committed_field_type_change_fails_against_the_parent(repo: Path) -> None:
    (repo / THING_PROTO).write_text(THING.replace("int64 size", "string size"))
    _git(repo, "commit", "--quiet", "--all", "--message=retype size")

    assert choose_base(repo, None)[1] == "HEAD's parent"
    assert run_checks(repo, None) == 1


def test_unformatted_and_unlinted_contracts_fail(repo: Path) -> None:
    (repo / THING_PROTO).write_text(THING.replace("message Thing {", "message thing   {"))
    _git(repo, "commit", "--quiet", "--all", "--message=rename badly")

    # lint (message name case), format (spacing) and breaking (the old name is gone) all fail.
    assert run_checks(repo, None) == 3


def test_unknown_explicit_base_skips_breaking_with_the_reason(repo: Path) -> None:
    assert choose_base(repo, "no-such-ref") == (None, "'no-such-ref' is not a commit in this clone")
