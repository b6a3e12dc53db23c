"""Card and question buttons: acknowledge, resolve, snooze, show runbook, same/new incident.

Each click is acked at once; the change is made in the database, then the card is redrawn in
place. A click on a deleted, merged or resolved incident gets an ephemeral explanation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlmodel import Session

from bot import incidents as repo
from bot.blocks.ids import SNOOZE_HOURS, Ids
from bot.blocks.incident import match_answer
from bot.lifecycle import LifecycleError, merge_incidents, resolve_incident
from bot.models import Incident
from bot.slack.app import SlackDeps
from bot.slack.cards import incident_view, load_incident, refresh_card
from bot.slack.replying import report_failure, tell

Handler = Callable[..., None]


def acknowledge_incident(engine: Engine, incident_id: int, tenant: str | None = None) -> Incident:
    """Mark an open incident acknowledged (idempotent); merged or resolved ones raise LifecycleError."""
    with Session(engine, expire_on_commit=False) as session:
        incident = repo.get_incident(session, incident_id, tenant)
        if incident.merged_into is not None:
            raise LifecycleError(f"INC-{incident_id} was merged into INC-{incident.merged_into}: use that one")
        if incident.status == "resolved":
            raise LifecycleError(f"INC-{incident_id} is already resolved")
        if incident.status != "acknowledged":
            incident.status = "acknowledged"
            incident.acknowledged_at = repo.utcnow()
            session.add(incident)
            session.commit()
        return incident


def _click(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    action = body["actions"][0]
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return action["action_id"], action.get("value") or "", (body.get("user") or {}).get("id"), channel


def _live(deps: SlackDeps, incident_id: int) -> tuple[Incident | None, str | None]:
    """The incident, or why a button on it can no longer act."""
    incident = load_incident(deps, incident_id)
    if incident is None:
        return None, f"INC-{incident_id} no longer exists (it was deleted)."
    if incident.merged_into is not None:
        return None, f"INC-{incident_id} was merged into INC-{incident.merged_into}; use that incident's card."
    if incident.status == "resolved":
        return None, f"INC-{incident_id} is already resolved."
    return incident, None


def make_card_handler(deps: SlackDeps) -> Handler:
    def on_card_button(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        action_id, value, user, channel = _click(body)
        try:
            incident_id = int(value)
        except ValueError:
            return
        try:
            if action_id == Ids.SHOW_RUNBOOK.value:
                show_runbook(deps, incident_id, respond, client, channel, user)
                return
            incident, why = _live(deps, incident_id)
            if incident is None:
                tell(client, respond, channel, user, why or "That incident can no longer change.")
                refresh_card(deps, incident_id)
                return
            if action_id == Ids.ACKNOWLEDGE.value:
                acknowledge_incident(deps.services.engine, incident_id)
            elif action_id == Ids.RESOLVE.value:
                resolve_incident(deps.services.engine, incident_id)
            else:
                hours = SNOOZE_HOURS[Ids(action_id)]
                deps.poster.set_snooze(incident_id, repo.utcnow() + timedelta(hours=hours))
            refresh_card(deps, incident_id)
        except LifecycleError as exc:
            tell(client, respond, channel, user, str(exc))
        except Exception:
            report_failure(client, respond, channel, user, "that button")

    return on_card_button


def show_runbook(deps: SlackDeps, incident_id: int, respond: Respond, client: WebClient, channel: str | None,
                 user: str | None) -> None:
    incident = load_incident(deps, incident_id)
    if incident is None:
        tell(client, respond, channel, user, f"INC-{incident_id} no longer exists (it was deleted).")
        return
    if not incident.runbook:
        tell(client, respond, channel, user, f"No runbook matched INC-{incident_id}. Try `/runbook {incident.title[:80]}`.")
        return
    library = deps.services.runbook_library
    chunks = [c for c in getattr(library, "chunks", []) if c.runbook == incident.runbook]
    sections = "\n\n".join(f"*{c.section or c.title}*\n{c.text}" for c in sorted(chunks, key=lambda c: c.ordinal))
    tell(client, respond, channel, user, f"*Runbook `{incident.runbook}`*\n{sections or '(not indexed here)'}")


def make_question_handler(deps: SlackDeps) -> Handler:
    def on_question(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        action_id, value, user, channel = _click(body)
        try:
            new_id, candidate_id = (int(part) for part in value.split(":", 1))
        except ValueError:
            return
        same = action_id == Ids.SAME_INCIDENT.value
        try:
            incident = load_incident(deps, new_id)
            if incident is None:
                tell(client, respond, channel, user, f"INC-{new_id} no longer exists (it was deleted).")
                return
            if incident.merged_into is not None:
                tell(client, respond, channel, user, f"Already answered: INC-{new_id} was merged into "
                     f"INC-{incident.merged_into}.")
                return
            if same:
                merge_incidents(deps.services.engine, new_id, candidate_id)
                refresh_card(deps, candidate_id)
            refresh_card(deps, new_id)
            message = body.get("message") or {}
            if channel and message.get("ts"):
                view = incident_view(deps, incident)
                blocks = match_answer(view, candidate_id, same, user)
                deps.poster.update(channel, message["ts"], "Answered", blocks)
        except LifecycleError as exc:
            tell(client, respond, channel, user, str(exc))
        except Exception:
            report_failure(client, respond, channel, user, "that answer")

    return on_question


def register(app: App, deps: SlackDeps) -> None:
    def ack_only(ack: Ack) -> None:
        ack()

    card = make_card_handler(deps)
    for action in (Ids.ACKNOWLEDGE, Ids.RESOLVE, *SNOOZE_HOURS, Ids.SHOW_RUNBOOK):
        app.action(action.value)(ack=ack_only, lazy=[card])
    question = make_question_handler(deps)
    for action in (Ids.SAME_INCIDENT, Ids.NEW_INCIDENT):
        app.action(action.value)(ack=ack_only, lazy=[question])
