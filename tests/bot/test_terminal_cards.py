"""The terminal renderer of Block Kit JSON: every block type, mrkdwn, links, Slack's limits, unknown types."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console, RenderableType
from rich.style import Style
from rich.text import Text

from bot.blocks.incident import duplicate_reply, incident_card, match_question, regression_note
from bot.blocks.limits import BUTTON_TEXT, FIELD_TEXT, HEADER_TEXT, MAX_BLOCKS, SECTION_TEXT
from bot.blocks.replies import Citation, answer_blocks
from bot.blocks.views import IncidentView, SimilarIncident
from bot.terminal_cards import element_label, mrkdwn, render_block, render_message, render_reply

T0 = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def shown(renderable: RenderableType, width: int = 120) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def link_targets(text: Text) -> dict[str, str]:
    """Visible text of each hyperlinked span -> its URL."""
    out = {}
    for span in text.spans:
        url = Style.parse(str(span.style)).link
        if url:
            out[text.plain[span.start:span.end]] = url
    return out


def view(**over: Any) -> IncidentView:
    base: dict[str, Any] = dict(id=7, title="checkout returns 502 for EU users", severity="critical", status="open",
                                occurrence_count=3, first_seen=T0, last_seen=T0, service="checkout",
                                runbook="checkout-502", runbook_title="Checkout 5xx")
    base.update(over)
    return IncidentView(**base)


def payload(blocks: list[Any]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


# -- mrkdwn ------------------------------------------------------------------------------------


def test_bold_italic_strike_and_code_lose_their_markers_and_keep_a_style() -> None:
    text = mrkdwn("*Severity* is _high_, ~fine~ run `kubectl get pods` now")
    assert text.plain == "Severity is high, fine run kubectl get pods now"
    styles = {text.plain[s.start:s.end]: str(s.style) for s in text.spans}
    assert "bold" in styles["Severity"]
    assert "italic" in styles["high"]
    assert "strike" in styles["fine"]
    assert styles["kubectl get pods"] != ""


def test_markers_inside_words_and_lone_asterisks_stay_literal() -> None:
    assert mrkdwn("snake_case_name and 2*3*4 and a * star").plain == "snake_case_name and 2*3*4 and a * star"


def test_links_show_their_label_and_keep_the_url() -> None:
    text = mrkdwn("see <https://grafana.example/d/1?a=1&amp;b=2|the dashboard> or <https://bare.example/x>")
    assert text.plain == "see the dashboard or https://bare.example/x"
    assert link_targets(text) == {"the dashboard": "https://grafana.example/d/1?a=1&b=2",
                                  "https://bare.example/x": "https://bare.example/x"}


def test_mentions_channels_specials_and_dates_read_as_slack_shows_them() -> None:
    text = mrkdwn("<@U123|ana> in <#C42|incidents> <!here> since <!date^1795770000^{date_short_pretty}|"
                  "2026-11-27 09:00 UTC>")
    assert text.plain == "@ana in #incidents @here since 2026-11-27 09:00 UTC"
    assert mrkdwn("<@U999>").plain == "@U999"


def test_quotes_entities_and_emoji() -> None:
    text = mrkdwn("> a &lt;b&gt; &amp; c\n:red_circle: :repeat: :no_such_emoji: at 09:00:12")
    assert text.plain == "▌ a <b> & c\n🔴 🔁 :no_such_emoji: at 09:00:12"


def test_code_spans_are_not_read_as_mrkdwn() -> None:
    assert mrkdwn("`*not bold* <http://x|y>`").plain == "*not bold* <http://x|y>"
    assert mrkdwn("```\nline *1*\n```").plain == "\nline *1*\n"


# -- blocks ------------------------------------------------------------------------------------


def test_the_incident_card_renders_every_fact_and_button() -> None:
    similar = (SimilarIncident(3, "checkout 502s last week", "resolved", 0.82, "https://slack.com/archives/C1/p1"),)
    out = shown(render_message(payload(incident_card(view(similar=similar, regression_of=3)))))
    lines = [line.rstrip() for line in out.splitlines()]
    assert lines[0] == "INC-7 · checkout returns 502 for EU users"
    for fact in ("Severity", "🔴 critical", "Service", "checkout", "Status", "Open", "Occurrences", "3",
                 "First seen", "2026-11-27 09:30 UTC", "Runbook: checkout-502 Checkout 5xx",
                 "• INC-3 checkout 502s last week (resolved, 82% similar)", "🔁 Regression of INC-3"):
        assert fact in out, fact
    assert "[Acknowledge] [Resolve] [Snooze 1h] [Snooze 4h] [Snooze 24h] [Show runbook]" in out
    assert "*" not in out and "<" not in out and ":red_circle:" not in out


def test_fields_sit_in_two_columns() -> None:
    out = shown(render_block({"type": "section", "fields": [
        {"type": "mrkdwn", "text": "*A*\n1"}, {"type": "mrkdwn", "text": "*B*\n2"}, {"type": "plain_text", "text": "C"}]}))
    rows = [line.split() for line in out.splitlines()]
    assert rows == [["A", "B"], ["1", "2"], ["C"]]


def test_a_resolved_card_has_only_the_runbook_button() -> None:
    out = shown(render_message(payload(incident_card(view(status="resolved")))))
    assert "[Show runbook]" in out and "[Acknowledge]" not in out and "[Resolve]" not in out


def test_thread_replies_are_indented_under_a_thread_mark() -> None:
    out = shown(render_reply(payload(duplicate_reply(view(occurrence_count=4), "still *failing*\nsecond line", 0.9))))
    lines = out.splitlines()
    assert lines[0].startswith("    ↳ in thread")
    assert all(line.startswith("    ") for line in lines if line.strip())
    assert "Occurrence #4 (90% similar):" in out and "▌ still failing" in out and "▌ second line" in out


def test_question_regression_and_answer_messages() -> None:
    other = view(id=3, title="checkout 502s in EU", link="https://slack.com/archives/C1/p9")
    question = shown(render_message(payload(match_question(view(), other))))
    assert "🤔 Looks like INC-3 (checkout 502s in EU): same incident?" in question
    assert "[Same incident] [New incident]" in question
    regression = shown(render_message(payload(regression_note(view(regression_of=3), "https://slack.com/old"))))
    assert "This looks like INC-3 again, which was resolved; severity raised to critical." in regression
    answer = shown(render_message(payload(answer_blocks("Fail over with `pg_ctl promote`.",
                                                        [Citation("db-failover § Steps")], "db-failover"))))
    lines = [line.rstrip() for line in answer.splitlines()]
    assert lines == ["Fail over with pg_ctl promote.", "─" * 40, "Sources: db-failover § Steps",
                     "Matched runbook: db-failover"]


def test_the_link_in_a_question_keeps_its_url() -> None:
    block = payload(match_question(view(), view(id=3, link="https://slack.com/archives/C1/p9")))[0]
    text = mrkdwn(block["text"]["text"])
    assert link_targets(text) == {"INC-3": "https://slack.com/archives/C1/p9"}


def test_overflow_selects_and_unknown_elements_and_blocks_never_break() -> None:
    row = render_block({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Resolve"}, "style": "danger"},
        {"type": "overflow", "options": [{"text": {"type": "plain_text", "text": "Merge"}, "value": "m"}]},
        {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Severity"}},
        {"type": "rich_whatever"}]})
    assert shown(row).strip() == "[Resolve] [⋯] [Severity ▾] [rich_whatever]"
    assert shown(render_block({"type": "video", "title": {"type": "plain_text", "text": "x"}})).strip() == "[video block]"
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "Pick"},
               "accessory": {"type": "overflow", "options": []}}
    assert shown(render_block(section)).split() == ["Pick", "[⋯]"]
    assert shown(render_block({"type": "divider"})).strip() == "─" * 40
    assert shown(render_block({"type": "image", "image_url": "https://x/y.png", "alt_text": "graph"})).strip() == "🖼 graph"


def test_button_styles_follow_slack() -> None:
    danger = element_label({"type": "button", "text": {"type": "plain_text", "text": "Resolve"}, "style": "danger"})
    plain = element_label({"type": "button", "text": {"type": "plain_text", "text": "Snooze 1h"}})
    assert any("red" in str(s.style) for s in danger.spans)
    assert not any("red" in str(s.style) for s in plain.spans)


# -- limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("block", "limit"), [
    ({"type": "header", "text": {"type": "plain_text", "text": "h" * (HEADER_TEXT + 1)}}, HEADER_TEXT),
    ({"type": "section", "text": {"type": "mrkdwn", "text": "s" * (SECTION_TEXT + 1)}}, SECTION_TEXT),
    ({"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * (FIELD_TEXT + 1)}]}, FIELD_TEXT),
    ({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b" * 80}}]},
     BUTTON_TEXT),
])
def test_text_over_a_limit_is_cut_there_and_flagged(block: dict[str, Any], limit: int) -> None:
    out = shown(render_block(block), width=100_000)
    letter = out.strip().lstrip("[")[0]
    assert out.count(letter * limit) == 1 and letter * (limit + 1) not in out
    assert f"over {limit} characters: Slack rejects this message" in out


@pytest.mark.parametrize("block", [
    {"type": "header", "text": {"type": "plain_text", "text": "h" * HEADER_TEXT}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "s" * SECTION_TEXT}},
])
def test_text_at_a_limit_is_shown_whole(block: dict[str, Any]) -> None:
    out = shown(render_block(block), width=100_000)
    assert "Slack rejects" not in out and len(out.strip()) in (HEADER_TEXT, SECTION_TEXT)


def test_too_many_blocks_fields_and_context_elements_are_flagged() -> None:
    many = [{"type": "section", "text": {"type": "mrkdwn", "text": f"part {i}"}} for i in range(MAX_BLOCKS + 2)]
    out = shown(render_message(many))
    assert f"part {MAX_BLOCKS - 1}" in out and f"part {MAX_BLOCKS}" not in out
    assert f"[{MAX_BLOCKS + 2} blocks, over {MAX_BLOCKS}: Slack rejects this message]" in out
    fields = shown(render_block({"type": "section", "fields": [{"type": "plain_text", "text": f"f{i}"} for i in range(11)]}))
    assert "f9" in fields and "f10" not in fields and "over 10" in fields
    context = shown(render_block({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"c{i}"} for i in range(11)]}), width=400)
    assert "c9" in context and "c10" not in context and "over 10" in context
    assert "Slack rejects" not in shown(render_message(many[:MAX_BLOCKS]))


def test_a_clipped_answer_ends_in_a_readable_more_link() -> None:
    blocks = payload(duplicate_reply(view(), "word " * 2000, 0.95, link="https://slack.com/archives/C1/p5"))
    text = mrkdwn(blocks[0]["text"]["text"])
    assert text.plain.endswith("… more")
    assert link_targets(text) == {"more": "https://slack.com/archives/C1/p5"}
    assert "Slack rejects" not in shown(render_message(blocks))
