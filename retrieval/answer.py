"""Answers to questions from runbook sections and past incidents, with citations.

With a model: redacted context in a data-only envelope, the prompt from `prompts/`, structured
output through `retrieval.llm`, and every citation and action checked against what was given.
Without one, or when it fails: an extractive answer that quotes the best sections.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from pydantic import BaseModel, Field

from retrieval.errors import RetrievalError
from retrieval.llm import LLMClient, LLMError
from retrieval.redact import redact
from retrieval.runbook_store import StoredChunk

log = logging.getLogger(__name__)
PROMPTS: dict[str, frozenset[str]] = {
    "answer_system": frozenset({"actions"}),
    "answer_user": frozenset({"question", "context", "incidents"}),
}
QUOTE_CHARS = 600
_ENVELOPE = re.compile(r"<\s*/?\s*data\b", re.IGNORECASE)


class PromptError(RetrievalError):
    """A prompt file is missing or its placeholders do not match what the code fills in."""


class ModelAnswer(BaseModel):
    """The structured output a model must return."""

    answer: str = Field(min_length=1, max_length=8000)
    citations: list[str] = Field(default_factory=list, max_length=20)
    actions: list[str] = Field(default_factory=list, max_length=10)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)


@dataclass(frozen=True)
class Citation:
    runbook: str
    section: str

    def to_json(self) -> dict[str, str]:
        return {"runbook": self.runbook, "section": self.section}


@dataclass(frozen=True)
class PastIncident:
    id: int
    similarity: float
    excerpt: str


@dataclass(frozen=True)
class Answer:
    answer: str
    citations: list[Citation]
    model: str | None
    mode: str  # "llm" or "extractive"
    actions: list[str] = field(default_factory=list)
    confidence: float | None = None
    incidents: list[PastIncident] = field(default_factory=list)
    note: str | None = None

    @property
    def runbook(self) -> str | None:
        return self.citations[0].runbook if self.citations else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"answer": self.answer, "citations": [c.to_json() for c in self.citations],
                               "model": self.model, "mode": self.mode, "actions": self.actions,
                               "confidence": self.confidence,
                               "incidents": [{"id": i.id, "similarity": round(i.similarity, 4)} for i in self.incidents]}
        if self.note:
            out["note"] = self.note
        return out


def load_prompts(folder: Path | None = None) -> dict[str, Template]:
    """Every prompt (from the bundled `prompts/` unless `folder` is given), checked: each file
    exists and uses exactly the placeholders the code fills."""
    from retrieval.assets import bundled_prompts

    folder = folder or bundled_prompts()
    out: dict[str, Template] = {}
    for name, wanted in PROMPTS.items():
        path = folder / f"{name}.md"
        try:
            template = Template(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PromptError(f"prompt {path} cannot be read: {exc.strerror}") from exc
        if not template.is_valid():
            raise PromptError(f"prompt {path} has a malformed $placeholder (write $$ for a literal $)")
        found = set(template.get_identifiers())
        if found != wanted:
            raise PromptError(f"prompt {path} has placeholders {sorted(found)}, expected {sorted(wanted)}")
        out[name] = template
    return out


def _data(item_id: str, source: str, text: str) -> str:
    """One item of the data envelope; envelope tags inside the text are defused so it cannot close it."""
    body = _ENVELOPE.sub(lambda m: m.group(0).replace("<", "&lt;"), redact(text))
    return f'<data id="{item_id}" source="{redact(source)}">\n{body}\n</data>'


def render_messages(prompts: dict[str, Template], question: str, chunks: Sequence[StoredChunk],
                    incidents: Sequence[PastIncident], actions: Sequence[str]) -> list[dict[str, str]]:
    context = "\n".join(_data(f"C{i}", f"{c.runbook} § {c.section}", c.text) for i, c in enumerate(chunks, 1))
    past = "\n".join(_data(f"I{i}", f"incident {p.id}", p.excerpt) for i, p in enumerate(incidents, 1))
    system = prompts["answer_system"].substitute(actions=", ".join(actions) or "(none)")
    question_text = _ENVELOPE.sub(lambda m: m.group(0).replace("<", "&lt;"), redact(question))
    user = prompts["answer_user"].substitute(question=question_text, context=context or "(none found)",
                                             incidents=past or "(none found)")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def extractive_answer(chunks: Sequence[StoredChunk], incidents: Sequence[PastIncident],
                      note: str | None = None) -> Answer:
    """The best sections quoted with their citations, marked as extractive."""
    if not chunks:
        text = "No runbook section matches this question. Index runbooks with `ballast runbooks index DIR`."
        return Answer(text, [], None, "extractive", incidents=list(incidents), note=note)
    lines = ["Extractive answer (no model was used): the closest runbook sections, quoted."]
    for chunk in chunks:
        quote = chunk.text if len(chunk.text) <= QUOTE_CHARS else chunk.text[:QUOTE_CHARS].rsplit(" ", 1)[0] + " ..."
        if quote.count("```") % 2:
            quote += "\n```"  # a cut inside a code block: close it so chat renders the rest as text
        lines.append(f"\n[{chunk.runbook} § {chunk.section}]")
        lines.extend(f"> {line}" for line in quote.splitlines())
    if incidents:
        lines.append("\nSimilar past incidents: " + ", ".join(f"#{p.id}" for p in incidents))
    cites = list(dict.fromkeys(Citation(c.runbook, c.section) for c in chunks))
    return Answer("\n".join(lines), cites, None, "extractive", incidents=list(incidents), note=note)


def answer(question: str, chunks: Sequence[StoredChunk], incidents: Sequence[PastIncident],
           client: LLMClient | None, actions: Sequence[str] = (), prompts: dict[str, Template] | None = None) -> Answer:
    """Answer with the model when there is one, extractively otherwise or when it fails."""
    if client is None:
        return extractive_answer(chunks, incidents)
    if not chunks and not incidents:
        return extractive_answer(chunks, incidents, note="nothing relevant was found, so no model was asked")
    messages = render_messages(prompts or load_prompts(), question, chunks, incidents, actions)
    try:
        reply = client.complete_json(messages, ModelAnswer)
    except LLMError as exc:
        log.warning("answering without the model: %s", exc)
        client.fell_back()
        return extractive_answer(chunks, incidents, note=f"the model failed ({exc}); extractive answer instead")
    by_id = {f"C{i}": c for i, c in enumerate(chunks, 1)}
    cited = [by_id[c] for c in dict.fromkeys(reply.citations) if c in by_id]  # drop ids we never gave
    dropped = [c for c in reply.citations if c not in by_id and not re.fullmatch(r"I\d+", c)]
    if dropped:
        log.warning("dropped citations the model invented: %s", dropped[:5])
    allowed = set(actions)
    suggested = [a for a in dict.fromkeys(reply.actions) if a in allowed]
    cites = list(dict.fromkeys(Citation(c.runbook, c.section) for c in cited))
    return Answer(reply.answer, cites, client.config.model, "llm", suggested, reply.confidence, list(incidents))


def similar_incidents(services: Any, question: str, tenant: str = "default", limit: int = 3,
                      floor: float = 0.5) -> list[PastIncident]:
    """Past incidents whose stored signals resemble the question (best signal per incident)."""
    vector = services.embedder.embed([question])[0]
    best: dict[int, PastIncident] = {}
    for hit in services.signal_index.search(vector, 20, {"tenant": tenant}):
        incident_id = hit.payload.get("incident_id")
        if incident_id is None or hit.score < floor or int(incident_id) in best:
            continue
        best[int(incident_id)] = PastIncident(int(incident_id), hit.score, str(hit.payload.get("masked", ""))[:400])
    return list(best.values())[:limit]


def answer_question(services: Any, question: str, tenant: str = "default") -> Answer:
    """The function the CLI and the Slack bot call: retrieve, then answer (see `answer`).

    `services` is the composition root (`runbook_library`, `signal_index`, `embedder`, `settings`).
    """
    from retrieval.llm import LLMConfig
    from retrieval.runbook_store import runbook_facts

    prompts = load_prompts()  # a broken prompt file fails every call, with or without a model
    library = services.runbook_library
    scored = library.best_chunks(question) if library is not None else []
    chunks = [c for c, _ in scored]
    incidents = similar_incidents(services, question, tenant)
    actions: list[str] = []
    for runbook in dict.fromkeys(c.runbook for c in chunks):
        facts = runbook_facts(library.index, runbook) or {}
        actions.extend(a for a in facts.get("interventions") or [] if a not in actions)
    s = services.settings
    client = None
    if s.llm_model:
        key = s.llm_api_key.get_secret_value() if s.llm_api_key else None
        client = LLMClient(LLMConfig(s.llm_model, s.llm_api_base, key, s.llm_timeout, s.llm_retries))
    return answer(question, chunks, incidents, client, actions, prompts)
