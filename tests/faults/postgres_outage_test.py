"""Scenario 3: PostgreSQL is unreachable mid-batch for longer than fixed attempt counts cover.

A proxy between the real PostgreSQL server and the worker and service resets every open
connection and refuses new ones for OUTAGE_SECONDS. The worker runs with backoff capped at
RETRY_MAX_INTERVAL_SECONDS = 2, so the old policies' attempt counts would be spent well inside
the outage: analysis 8 attempts (1 + 6 x 2 = 13 s of backoff), item writes 10 attempts
(0.5 + 1 + 7 x 2 = 15.5 s). Infrastructure failures must instead be retried for the retry budget
(RETRY_BUDGET_SECONDS = 600, far beyond the outage): no item may fail, none by
INFRASTRUCTURE_UNAVAILABLE, and none may be processed twice. A step under way when the outage
began (an analysis, which writes the analysis cache and claims the item, or the item's write)
must have outlived its old attempt count, or the run did not test what it says.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faults.histories import activity_retries
from faults.scenario import finish, report, start_batch
from faults.stack import (
    RETRY_BUDGET_SECONDS,
    RETRY_MAX_INTERVAL_SECONDS,
    migrated_database,
    running_stack,
)
from faults.tcp_proxy import TcpProxy
from sqlalchemy.engine import make_url

from bubble_shared.temporal import names

ITEMS = 40
CONCURRENCY = 10
OUTAGE_SECONDS = 35.0
PHOTO_SIZE = (3000, 2250)
"""Camera-sized photos: their analyses last long enough (and queue for the two analysis
processes) that claimed items are still being analysed when the outage begins; the small images
of the other fault tests are analysed within milliseconds of their claim, and the strike often
came after every claimed analysis had finished (CI saw it: no analysis outlived the outage)."""
OLD_ANALYSIS_ATTEMPTS = 8
OLD_ITEM_WRITE_ATTEMPTS = 10
# What 8 analysis attempts (10 item-write attempts) wait in all with backoff capped at 2 s.
OLD_ATTEMPTS_COVER_SECONDS = max(1 + 6 * 2, 0.5 + 1 + 7 * 2)


@pytest.mark.postgres()
def test_a_database_outage_longer_than_the_old_attempt_counts_fails_no_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert OLD_ATTEMPTS_COVER_SECONDS * 2 <= OUTAGE_SECONDS < RETRY_BUDGET_SECONDS / 10
    with migrated_database("postgresql", tmp_path) as url:
        server = make_url(url)
        with TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy:
            through_proxy = server.set(port=proxy.port).render_as_string(hide_password=False)
            with running_stack(tmp_path, url, process_database_url=through_proxy) as stack:
                run = start_batch(
                    stack, items=ITEMS, concurrency=CONCURRENCY, image_size=PHOTO_SIZE
                )
                # Two claimed: each is analysing or writing its result when the outage begins.
                claimed = run.wait_until_in_flight(ITEMS // 5, analysing=2)
                proxy.start_outage()
                run.note(f"PostgreSQL unreachable ({proxy.stats.reset} connections reset)")
                time.sleep(OUTAGE_SECONDS)
                run.note(f"PostgreSQL back after {OUTAGE_SECONDS:g}s: {run.in_flight()}")
                proxy.end_outage()
                run.wait_for_end()
                temporal = f"127.0.0.1:{stack.temporal_port}"
                analyses = activity_retries(temporal, claimed, names.ANALYZE_ITEM_IMAGES)
                writes = activity_retries(temporal, claimed, names.UPDATE_ITEM_WITH_SUGGESTIONS)
                intervals = sorted(analyses.maximum_intervals | writes.maximum_intervals)
                findings = finish(run, webhook_repeats_allowed=True)
                findings.notes.append(f"proxy: {proxy.stats}")
                findings.notes.append(
                    f"the {len(claimed)} runs under way when the outage began: analyses at most "
                    f"{analyses.highest_attempt} attempts, item writes at most "
                    f"{writes.highest_attempt}; retry policies' maximum interval {intervals}"
                )
                if (
                    analyses.highest_attempt <= OLD_ANALYSIS_ATTEMPTS
                    and writes.highest_attempt <= OLD_ITEM_WRITE_ATTEMPTS
                ):
                    findings.problems.append(
                        f"no step under way outlived its old attempt count through the "
                        f"{OUTAGE_SECONDS:g}s outage (analyses at most {analyses.highest_attempt} "
                        f"of {OLD_ANALYSIS_ATTEMPTS}, item writes at most {writes.highest_attempt} "
                        f"of {OLD_ITEM_WRITE_ATTEMPTS}; maximum interval {intervals}), so this "
                        "run did not test outliving them: did RETRY_MAX_INTERVAL_SECONDS="
                        f"{RETRY_MAX_INTERVAL_SECONDS} reach the retry policies?"
                    )
                with capsys.disabled():  # the timeline and evidence, also when it passes
                    print(report(run, findings))
    assert not findings.problems, "\n".join(findings.problems)
