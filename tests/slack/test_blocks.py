"""Block Kit builders stay inside Slack's limits at and past every limit, and never raise."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from slack_sdk.models.blocks import Block

from bot.blocks.ids import CARD_BUTTONS, Ids
from bot.blocks.incident import duplicate_reply, incident_card, match_answer, match_question, regression_note
from bot.blocks.limits import ELLIPSIS, clip, clip_id, clip_plain
from bot.blocks.replies import Citation, RunbookHit, answer_blocks, help_blocks, runbook_results
from bot.blocks.views import IncidentView, SimilarIncident

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def view(**over: object) -> IncidentView:
    base: dict[str, object] = dict(id=42, title="checkout returns 502 for EU users", severity="critical",
                                   status="open", occurrence_count=3, first_seen=T0, last_seen=T0,
                                   service="checkout", runbook="checkout-502", runbook_title="Checkout 5xx")
    base.update(over)
    return IncidentView(**base)  # type: ignore[arg-type]


def check_limits(blocks: list[Block]) -> dict:
    """Serialise (slack_sdk validates its own limits there) and check Slack's documented ones."""
    payload = [b.to_dict() for b in blocks]
    assert len(payload) <= 50
    for block in payload:
        assert len(block.get("block_id", "")) <= 255
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            for f in block.get("fields", []):
                assert len(f["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "actions":
            for el in block["elements"]:
                assert len(el["text"]["text"]) <= 75
                assert len(el["action_id"]) <= 255
                assert len(el.get("value", "")) <= 255
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            for el in block["elements"]:
                assert len(el["text"]) <= 3000
    return {"blocks": payload}


@pytest.mark.parametrize("n", [0, 1, 149, 150, 151, 3000, 3001, 10_000])
def test_clip_never_exceeds_and_marks_the_cut(n: int) -> None:
    text = "x" * n
    for limit in (75, 150, 3000):
        out = clip(text, limit, link="https://example.test/i/1")
        assert len(out) <= limit
        assert out == text if n <= limit else out.endswith(("more>", ELLIPSIS))


def test_clip_drops_half_a_link_and_keeps_a_more_link() -> None:
    text = "a" * 2990 + " <https://example.test/very/long/link|label>"
    out = clip(text, 3000, link="https://example.test/card")
    assert len(out) <= 3000 and "<https://example.test/very" not in out
    assert out.endswith("<https://example.test/card|more>")


def test_clip_plain_and_ids() -> None:
    assert clip_plain("a\n b\tc", 75) == "a b c"
    cut = clip_plain("w " * 100, 75)
    assert len(cut) <= 75 and cut.endswith("w" + ELLIPSIS)
    assert clip_id("9" * 300) == "9" * 255


def test_card_normal() -> None:
    blocks = incident_card(view(similar=(SimilarIncident(7, "eu 502s", "resolved", 0.81),)))
    payload = check_limits(blocks)
    dumped = json.dumps(payload)
    for needle in ("INC-42", "checkout-502", "critical", "INC-7", "81% similar", "Occurrences"):
        assert needle in dumped
    actions = [el["action_id"] for b in payload["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert actions == [i.value for i in CARD_BUTTONS]


def test_card_at_and_past_every_limit() -> None:
    long = "é" * 10_000
    similar = tuple(SimilarIncident(i, long, "resolved", 0.5, link="https://x.test/" + "p" * 500) for i in range(200))
    for n in (150, 151, 3000, 3001, 10_000):
        blocks = incident_card(view(title="t" * n, service="s" * n, runbook="r" * n, runbook_title=long,
                                    similar=similar, link="https://slack.test/archives/C1/p1"))
        payload = check_limits(blocks)
        header = payload["blocks"][0]["text"]["text"]
        assert len(header) <= 150
        if n > 150:
            assert header.endswith(ELLIPSIS)


def test_card_buttons_follow_state() -> None:
    def ids(v: IncidentView) -> list[str]:
        return [el["action_id"] for b in check_limits(incident_card(v))["blocks"]
                if b["type"] == "actions" for el in b["elements"]]

    assert Ids.ACKNOWLEDGE.value not in ids(view(status="acknowledged", acknowledged_by="U1"))
    assert ids(view(status="resolved")) == [Ids.SHOW_RUNBOOK.value]
    merged = check_limits(incident_card(view(merged_into=7)))
    assert "Merged into INC-7" in json.dumps(merged)


def test_thread_replies_and_question() -> None:
    huge = "line of a very noisy report\n" * 2000
    check_limits(duplicate_reply(view(), huge, 0.9, link="https://slack.test/x"))
    check_limits(duplicate_reply(view(), "", None))
    note = check_limits(regression_note(view(regression_of=7), "https://slack.test/old"))
    assert "<https://slack.test/old|INC-7>" in json.dumps(note)
    question = check_limits(match_question(view(id=43), view(title="q" * 5000)))
    dumped = json.dumps(question)
    assert "Looks like INC-42" in dumped and "same incident?" in dumped
    buttons = question["blocks"][1]["elements"]
    assert [b["value"] for b in buttons] == ["43:42", "43:42"]
    check_limits(match_answer(view(), 7, True, "U1"))


def test_replies_past_limits() -> None:
    check_limits(help_blocks("Unknown command " + "z" * 5000))
    hits = [RunbookHit("r" * 400, "t" * 400, 0.5) for _ in range(50)]
    check_limits(runbook_results("q" * 5000, hits))
    check_limits(runbook_results("nothing", []))
    cites = [Citation("c" * 300, "https://x.test/" + "y" * 300) for _ in range(100)]
    blocks = answer_blocks("word " * 100_000, cites, runbook="r" * 4000)
    check_limits(blocks)
    assert len(blocks) == 50
