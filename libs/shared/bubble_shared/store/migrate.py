"""Brings a database's schema up to date: ``python -m bubble_shared.store.migrate``.

    python -m bubble_shared.store.migrate [--database-url URL]
    ./pants run libs/shared/bubble_shared/store:migrate -- [--database-url URL]

The URL defaults to $DATABASE_URL, else ``sqlite:///.local/bubble.db`` (relative to the working
directory). It prints what it did, and on failure exits with status 1 and says why.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bubble_shared.store.schema import current_revision, upgrade

__all__ = ["DATABASE_URL_ENV", "DEFAULT_DATABASE_URL", "display_url", "main", "upgrade"]

DATABASE_URL_ENV = "DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///.local/bubble.db"


def display_url(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL at all: shown as given (normalize_url will say why)
        return url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bubble_shared.store.migrate",
        description="Upgrade the item store's database schema to the newest revision.",
    )
    parser.add_argument(
        "--database-url",
        help=f"SQLAlchemy URL of the database (default: ${DATABASE_URL_ENV}, "
        f"else {DEFAULT_DATABASE_URL})",
    )
    args = parser.parse_args(argv)
    url: str = args.database_url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL
    shown = display_url(url)
    try:
        before = current_revision(url)
        upgrade(url)
        after = current_revision(url)
    except Exception as error:  # the command line reports every failure the same way
        reason = str(getattr(error, "orig", None) or error).strip()
        print(f"error: could not migrate {shown}: {reason}", file=sys.stderr)
        return 1
    if before == after:
        print(f"{shown} is already at revision {after} (head): nothing to do")
    else:
        print(f"{shown} upgraded from {before or 'an empty database'} to revision {after} (head)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
