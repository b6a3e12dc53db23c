"""Plain replies: help, "not configured yet", runbook search results and cited answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, MarkdownTextObject, SectionBlock

from bot.blocks.ids import Ids
from bot.blocks.limits import CONTEXT_ELEMENTS, MAX_BLOCKS, SECTION_TEXT, clip, clip_id

HELP = """*Ballast* keeps your incidents in one place.
• `/incident TEXT` report an incident (repeats go into the existing incident's thread)
• `/runbook QUERY` find the runbook for a symptom
• `/budget [SERVICE]` SLO error budgets
• `/scorecard [SERVICE|team]` reliability scorecard
• `/risk [SERVICE]` current risk score
• `@Ballast QUESTION` or a DM: answers from runbooks and past incidents, with sources
• `/ballast help` this message"""


@dataclass(frozen=True)
class Citation:
    label: str
    link: str | None = None


@dataclass(frozen=True)
class RunbookHit:
    runbook: str
    title: str
    score: float


def text_blocks(text: str, link: str | None = None) -> list[Block]:
    return [SectionBlock(block_id=Ids.REPLY.value, text=MarkdownTextObject(text=clip(text, SECTION_TEXT, link)))]


def help_blocks(note: str | None = None) -> list[Block]:
    return text_blocks(f"{note}\n\n{HELP}" if note else HELP)


def runbook_results(query: str, hits: Sequence[RunbookHit]) -> list[Block]:
    if not hits:
        return text_blocks(f"No runbook matches _{clip(query, 200)}_. Try other words, or index more runbooks.")
    lines = [f"• `{h.runbook}` {h.title} (score {h.score:.2f})" for h in hits]
    return text_blocks(f"*Runbooks for* _{clip(query, 200)}_\n" + "\n".join(lines))


def answer_blocks(answer: str, citations: Sequence[Citation], runbook: str | None = None) -> list[Block]:
    """An answer split into sections (3,000 characters each), then its sources, inside 50 blocks."""
    tail: list[Block] = []
    if citations:
        labels = [f"<{c.link}|{c.label}>" if c.link else c.label for c in citations]
        tail.append(DividerBlock())
        text = "*Sources:* " + " · ".join(labels)
        tail.append(ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_TEXT))][:CONTEXT_ELEMENTS]))
    if runbook:
        tail.append(ContextBlock(elements=[MarkdownTextObject(text=clip(f"Matched runbook: `{runbook}`", SECTION_TEXT))]))
    room = MAX_BLOCKS - len(tail)
    body = answer.strip() or "(no answer)"
    chunks = [body[i : i + SECTION_TEXT] for i in range(0, len(body), SECTION_TEXT)]
    if len(chunks) > room:
        chunks = chunks[:room]
        chunks[-1] = clip(chunks[-1] + "…", SECTION_TEXT)
    sections: list[Block] = [
        SectionBlock(block_id=clip_id(f"{Ids.REPLY.value}_{i}"), text=MarkdownTextObject(text=chunk))
        for i, chunk in enumerate(chunks)
    ]
    return [*sections, *tail]
