"""What a channel sees after intake: a card per new incident, thread replies for repeats, card refreshes.

Every post goes through `Poster` under a key made of the incident and the triggering event, so
replaying an event (a Slack retry, a second worker) changes nothing that was already posted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlmodel import Session

from bot import escalation_store
from bot import incidents as repo
from bot.blocks.incident import card_text, duplicate_reply, incident_card, match_question, regression_note
from bot.blocks.views import IncidentView, SimilarIncident
from bot.incidents import IncidentNotFound
from bot.intake import IngestResult
from bot.models import Incident, SlackMessage
from bot.slack.app import SlackDeps
from bot.slack.posting import Posted, card_key, permalink
from retrieval.fingerprint import masked_text, signal_kind
from retrieval.signal import Signal

log = logging.getLogger(__name__)
SIMILAR_LIMIT = 3
SIMILAR_MIN = 0.5
CARD_WAIT = 600.0  # seconds a repeat waits for its incident's card (a 429 storm can hold it that long)


@dataclass(frozen=True)
class Published:
    """Where the card of the incident a signal landed in lives, and whether this call posted it."""

    incident_id: int
    channel: str
    ts: str
    new_card: bool


def load_incident(deps: SlackDeps, incident_id: int) -> Incident | None:
    with Session(deps.services.engine, expire_on_commit=False) as session:
        try:
            return repo.get_incident(session, incident_id)
        except IncidentNotFound:
            return None


def incident_view(deps: SlackDeps, incident: Incident, similar: tuple[SimilarIncident, ...] = ()) -> IncidentView:
    assert incident.id is not None
    card = deps.poster.card(incident.id)
    library = deps.services.runbook_library if incident.runbook else None
    title = getattr(library, "titles", {}).get(incident.runbook) if library is not None else None
    return IncidentView(
        id=incident.id, title=incident.title, severity=incident.severity, status=incident.status,
        occurrence_count=incident.occurrence_count, first_seen=repo.as_utc(incident.first_seen),
        last_seen=repo.as_utc(incident.last_seen), service=incident.service, runbook=incident.runbook,
        runbook_title=title, regression_of=incident.regression_of, merged_into=incident.merged_into, similar=similar,
        snoozed_until=repo.as_utc(card.snoozed_until) if card and card.snoozed_until else None,
        link=permalink(card.channel, card.ts) if card and card.ts else None,
    )


def similar_past(deps: SlackDeps, signal: Signal, exclude: int) -> tuple[SimilarIncident, ...]:
    """Resolved incidents whose signals read like this one (the embedding is cached by intake)."""
    services = deps.services
    try:
        kind = signal_kind(signal.text, signal.labels, signal.source)
        vector = services.embedder.embed([masked_text(signal.text, kind)])[0]
        hits = services.signal_index.search(vector, 20, {"tenant": signal.tenant})
    except Exception:  # similar incidents are a nicety: never lose the card over them
        log.exception("similar-incident lookup failed")
        return ()
    best: dict[int, float] = {}
    for hit in hits:
        incident_id = int(hit.payload.get("incident_id", 0))
        if incident_id != exclude and hit.score >= SIMILAR_MIN:
            best[incident_id] = max(best.get(incident_id, 0.0), hit.score)
    with Session(services.engine, expire_on_commit=False) as session:
        live = repo.live_incidents(session, signal.tenant, list(best))
    # Card lookups open their own sessions: never while holding one (a full pool would deadlock).
    out: dict[int, SimilarIncident] = {}
    for origin, incident in live.items():
        if incident.id is None or incident.id == exclude or incident.status != "resolved" or incident.id in out:
            continue
        card = deps.poster.card(incident.id)
        link = permalink(card.channel, card.ts) if card and card.ts else None
        out[incident.id] = SimilarIncident(incident.id, incident.title, incident.status, best[origin], link)
    return tuple(sorted(out.values(), key=lambda s: -s.similarity)[:SIMILAR_LIMIT])


def refresh_card(deps: SlackDeps, incident_id: int) -> None:
    """Redraw a posted card from the database (chat.update); no card, nothing to do."""
    card = deps.poster.card(incident_id)
    incident = load_incident(deps, incident_id)
    if card is None or card.ts is None or incident is None:
        return
    redraw(deps, incident, card)


def redraw(deps: SlackDeps, incident: Incident, card: SlackMessage) -> None:
    """Update a posted card in place, similar past incidents included (looked up again from the
    incident's own text, so a redraw never drops the section the card was posted with)."""
    assert incident.id is not None and card.ts is not None
    similar = similar_past(deps, Signal(text=incident.text, tenant=incident.tenant, source=incident.source),
                           incident.id)
    view = incident_view(deps, incident, similar)
    deps.poster.update(card.channel, card.ts, card_text(view), incident_card(view))


def post_card(deps: SlackDeps, incident: Incident, channel: str, signal: Signal | None) -> Posted | None:
    assert incident.id is not None
    similar = similar_past(deps, signal, incident.id) if signal is not None else ()
    view = incident_view(deps, incident, similar)
    return deps.poster.post_once(card_key(incident.id), channel, card_text(view), incident_card(view),
                                 kind="card", incident_id=incident.id)


def ensure_card(deps: SlackDeps, incident: Incident, channel: str,
                signal: Signal | None, wait: float = CARD_WAIT) -> tuple[SlackMessage | None, bool]:
    """The incident's posted card, posting it if nobody has; waits up to `wait` seconds while another
    thread posts it (a repeat that arrives during a rate-limited post must still reach the thread)."""
    assert incident.id is not None
    deadline = time.monotonic() + wait
    while True:
        card = deps.poster.card(incident.id)
        if card is not None:
            return card, False
        if post_card(deps, incident, channel, signal) is not None:
            return deps.poster.card(incident.id), True
        if time.monotonic() > deadline:
            return None, False
        time.sleep(0.1)  # claimed by another thread: its ts, or its released claim, shows up soon


def publish(deps: SlackDeps, signal: Signal, result: IngestResult, channel: str, event_key: str,
            wait: float = CARD_WAIT) -> Published | None:
    """Show one intake result in `channel`: a new card, or a reply in the existing card's thread."""
    if result.incident_id is None:
        return None
    incident = load_incident(deps, result.incident_id)
    if incident is None or incident.id is None:
        return None
    if result.decision in ("new", "regression") and not result.replayed:
        escalation_store.arm_incidents(deps.services.engine, deps.config.file, [incident.id])
    card, new_card = ensure_card(deps, incident, channel, signal, wait)
    if card is None or card.ts is None:
        log.warning("INC-%s: its card is still being posted after %ss; reply skipped", incident.id, wait)
        return None
    if result.decision == "duplicate":  # even when this thread posted the card: the report goes in its thread
        view = incident_view(deps, incident)
        blocks = duplicate_reply(view, signal.text, result.similarity, view.link)
        deps.poster.post_once(f"dup:{incident.id}:{event_key}", card.channel, f"{view.ref}: another report",
                              blocks, kind="reply", incident_id=incident.id, thread_ts=card.ts)
        redraw(deps, incident, card)
    if result.decision == "regression" and incident.regression_of is not None:
        view = incident_view(deps, incident)
        old = deps.poster.card(incident.regression_of)
        old_link = permalink(old.channel, old.ts) if old and old.ts else None
        deps.poster.post_once(f"regression:{incident.id}", card.channel, f"{view.ref} is a regression",
                              regression_note(view, old_link), kind="reply", incident_id=incident.id,
                              thread_ts=card.ts)
    if result.candidate is not None:
        ask_same(deps, incident, result.candidate, card.channel, card.ts)
    return Published(incident.id, card.channel, card.ts, new_card)


def publish_repeats(deps: SlackDeps, incident: Incident, card: SlackMessage, reports: list[str],
                    similarity: float | None, key: str) -> None:
    """Several repeats of an incident as one thread reply (the latest report, and how many came), then
    the card's count redrawn: a flood of repeats is a reply per gathering window, not one per alert."""
    assert card.ts is not None
    view = incident_view(deps, incident)
    latest = reports[-1] if reports else ""
    shown = latest if len(reports) <= 1 else f"{len(reports)} more reports; the latest:\n{latest}"
    deps.poster.post_once(f"dups:{incident.id}:{key}", card.channel, f"{view.ref}: {len(reports)} more report(s)",
                          duplicate_reply(view, shown, similarity, view.link), kind="reply", incident_id=incident.id,
                          thread_ts=card.ts)
    redraw(deps, incident, card)


def ask_same(deps: SlackDeps, incident: Incident, candidate_id: int, channel: str, thread_ts: str) -> None:
    """The uncertain-match question, in the new incident's thread."""
    candidate = load_incident(deps, candidate_id)
    if candidate is None or incident.id is None:
        return
    view, other = incident_view(deps, incident), incident_view(deps, candidate)
    deps.poster.post_once(f"ask:{incident.id}:{candidate_id}", channel, f"Same incident as {other.ref}?",
                          match_question(view, other), kind="question", incident_id=incident.id,
                          thread_ts=thread_ts)
