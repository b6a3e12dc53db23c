"""`ballast demo` shows #incidents as Slack would: cards from the app's own blocks, threads, a cited answer."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console
from sqlalchemy import func, select
from sqlmodel import Session

from bot import incidents as repo
from bot.app import Services
from bot.demo import QUESTION, load_stream, run_demo
from bot.intake import IngestResult
from bot.models import SlackMessage


def demo_output(services: Services) -> tuple[str, list[IngestResult]]:
    console = Console(record=True, width=250, color_system=None, file=io.StringIO())
    results = run_demo(services, console=console)
    return console.export_text(), results


def card_sections(out: str) -> dict[int, str]:
    """The text under each card (its thread included), by incident id."""
    parts = re.split(r"^Ballast APP .*$", out, flags=re.MULTILINE)[1:]
    sections = {}
    for part in parts:
        found = re.search(r"INC-(\d+) · ", part)
        assert found, part[:200]
        sections[int(found.group(1))] = part
    return sections


def test_the_demo_prints_each_card_with_its_thread(services: Services) -> None:
    out, results = demo_output(services)
    assert len(results) == len(load_stream())
    opened = [r for r in results if r.decision in ("new", "regression")]
    sections = card_sections(out)
    assert sorted(sections) == sorted(r.incident_id for r in opened)
    with Session(services.engine) as session:
        for result in opened:
            incident = repo.get_incident(session, result.incident_id)
            section = sections[incident.id]
            assert f"INC-{incident.id} · {' '.join(incident.title.split())[:60]}" in section
            assert "[Show runbook]" in section and "[Acknowledge] [Resolve]" in section
            if incident.runbook:
                assert f"Runbook: {incident.runbook}" in section
            if result.decision == "regression":
                assert f"Regression of INC-{incident.regression_of}" in section
                assert f"This looks like INC-{incident.regression_of} again, which was resolved" in section
    duplicates = [r for r in results if r.decision == "duplicate"]
    assert duplicates, "the stream has repeats"
    assert out.count("Occurrence #") == len(duplicates)
    for incident_id, section in sections.items():
        counts = [int(n) for n in re.findall(r"Occurrence #(\d+)", section)]
        expected = sum(r.decision == "duplicate" and r.incident_id == incident_id for r in duplicates)
        assert counts == list(range(2, 2 + expected)), (incident_id, counts)
    asked = [r for r in results if r.candidate is not None]
    assert out.count("[Same incident] [New incident]") == len(asked)
    for result in asked:
        assert f"Looks like INC-{result.candidate} (" in sections[result.incident_id]


def test_a_second_run_on_the_same_data_dir_replays_and_says_so(services: Services) -> None:
    first, _ = demo_output(services)
    assert "already held the demo's signals" not in first
    again, results = demo_output(services)
    assert all(r.replayed for r in results)
    assert "already held the demo's signals" in again
    assert sorted(card_sections(again)) == sorted(card_sections(first))
    for incident_id, section in card_sections(again).items():
        counts = [int(n) for n in re.findall(r"Occurrence #(\d+)", section)]
        assert counts == list(range(2, 2 + len(counts))), (incident_id, counts)
        assert counts == [int(n) for n in re.findall(r"Occurrence #(\d+)", card_sections(first)[incident_id])]


def test_the_demo_answers_one_question_with_sources(services: Services) -> None:
    out, _ = demo_output(services)
    asked = out.index(f"@Ballast {QUESTION}")
    answer = out[asked:]
    assert "Sources: " in answer and "Matched runbook: " in answer and "§" in answer


def test_the_demo_shows_readable_text_and_posts_nothing(services: Services) -> None:
    out, _ = demo_output(services)
    for markup in ("*Severity*", ":red_circle:", ":large_orange_circle:", "<!date^", "*Runbook:*", "*Similar"):
        assert markup not in out, markup
    with Session(services.engine) as session:
        assert session.execute(select(func.count()).select_from(SlackMessage)).scalar_one() == 0


def test_the_json_mode_prints_one_result_per_signal_and_no_channel(services: Services,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(record=True, file=io.StringIO())
    results = run_demo(services, as_json=True, console=console)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == [s.external_id for s in load_stream()]
    assert [line["decision"] for line in lines] == [r.decision for r in results]
    assert console.export_text() == ""


def test_the_summary_table_goes_to_the_demo_console(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    out, results = demo_output(services)
    assert "Incidents after the stream" in out and capsys.readouterr().out == ""
    opened = sum(r.decision in ("new", "regression") for r in results)
    assert f"{len(results)} signals -> {opened} incidents" in out
