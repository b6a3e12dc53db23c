"""Card and question buttons: acknowledge, resolve, snooze, show runbook, same/new incident, and the
card's menu (merge into another incident, split the last report out).

Each click is acked at once; the change is made in the database, then the card is redrawn in
place. A click on a deleted, merged or resolved incident gets an ephemeral explanation. Every
same/new answer, merge and split is stored as a labelled pair and recalibrates the tenant's
dedup thresholds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import incidents as repo
from bot.blocks.ids import MENU_MERGE, MENU_SPLIT, SNOOZE_HOURS, Ids
from bot.blocks.incident import match_answer, merge_picker, merged_note, split_note
from bot.blocks.limits import SELECT_OPTIONS
from bot.blocks.views import IncidentChoice
from bot.labels import Answer
from bot.lifecycle import (LifecycleError, acknowledge_incident, confirm_distinct, merge_incidents, merge_targets, repoint,
                           resolve_incident, split_last_signal)
from bot.models import Incident
from bot.slack.app import SlackDeps
from bot.slack.cards import incident_view, load_incident, post_card, refresh_card
from bot.slack.replying import report_failure, tell

log = logging.getLogger(__name__)

Handler = Callable[..., None]


def _click(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    action = body["actions"][0]
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return action["action_id"], action.get("value") or "", (body.get("user") or {}).get("id"), channel


def _workspace_tenant(deps: SlackDeps, body: dict[str, Any]) -> str:
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    return deps.config.tenant(team)


def _live(deps: SlackDeps, incident_id: int, tenant: str | None = None) -> tuple[Incident | None, str | None]:
    """The incident, or why a button on it can no longer act (another workspace's incident does not exist)."""
    incident = load_incident(deps, incident_id)
    if incident is None or (tenant is not None and incident.tenant != tenant):
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
        with _answer_failures(client, respond, channel, user, "that button"):
            tenant = _workspace_tenant(deps, body)
            if action_id == Ids.SHOW_RUNBOOK.value:
                show_runbook(deps, incident_id, respond, client, channel, user, tenant)
                return
            incident, why = _live(deps, incident_id, tenant)
            if incident is None:
                tell(client, respond, channel, user, why or "That incident can no longer change.")
                if _belongs(deps, incident_id, tenant):
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

    return on_card_button


@contextmanager
def _answer_failures(client: WebClient, respond: Respond, channel: str | None, user: str | None,
                     what: str) -> Iterator[None]:
    """A change the lifecycle refuses is told to the clicker as it is; any other failure is logged
    and told by reference (`report_failure`), never as a trace."""
    try:
        yield
    except LifecycleError as exc:
        tell(client, respond, channel, user, str(exc))
    except Exception:
        report_failure(client, respond, channel, user, what)


def _belongs(deps: SlackDeps, incident_id: int, tenant: str) -> bool:
    incident = load_incident(deps, incident_id)
    return incident is not None and incident.tenant == tenant


def show_runbook(deps: SlackDeps, incident_id: int, respond: Respond, client: WebClient, channel: str | None,
                 user: str | None, tenant: str) -> None:
    incident = load_incident(deps, incident_id)
    if incident is None or incident.tenant != tenant:
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
        with _answer_failures(client, respond, channel, user, "that answer"):
            tenant = _workspace_tenant(deps, body)
            incident = load_incident(deps, new_id)
            if incident is None or not (incident.tenant == tenant and _belongs(deps, candidate_id, tenant)):
                tell(client, respond, channel, user, f"INC-{new_id} no longer exists (it was deleted).")
                return
            if incident.merged_into is not None:
                tell(client, respond, channel, user, f"Already answered: INC-{new_id} was merged into "
                     f"INC-{incident.merged_into}.")
                return
            answer = Answer("question", user)
            if same:
                merge_incidents(deps.services.engine, new_id, candidate_id, answer=answer)
                refresh_card(deps, candidate_id)
            else:
                confirm_distinct(deps.services.engine, new_id, candidate_id, answer)
            deps.services.calibration.recalibrate(incident.tenant)
            refresh_card(deps, new_id)
            message = body.get("message") or {}
            if channel and message.get("ts"):
                view = incident_view(deps, incident)
                blocks = match_answer(view, candidate_id, same, user)
                deps.poster.update(channel, message["ts"], "Answered", blocks)

    return on_question


def _selected(body: dict[str, Any]) -> str:
    action = body["actions"][0]
    return str((action.get("selected_option") or {}).get("value") or action.get("value") or "")


def make_menu_handler(deps: SlackDeps) -> Handler:
    """The card's overflow menu: "merge:ID" answers with a picker, "split:ID" splits at once."""

    def on_menu(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        _, _, user, channel = _click(body)
        verb, _, raw = _selected(body).partition(":")
        try:
            incident_id = int(raw)
        except ValueError:
            return
        with _answer_failures(client, respond, channel, user, "that menu action"):
            incident, why = _live(deps, incident_id, _workspace_tenant(deps, body))
            if incident is None:
                tell(client, respond, channel, user, why or "That incident can no longer change.")
                refresh_card(deps, incident_id)
                return
            if verb == MENU_MERGE:
                targets = merge_targets(deps.services.engine, incident_id, SELECT_OPTIONS + 1)
                choices = [IncidentChoice(t.id, t.title, t.status) for t in targets if t.id is not None]
                blocks = merge_picker(incident_view(deps, incident), choices)
                tell(client, respond, channel, user, f"Merge INC-{incident_id} into which incident?", blocks)
            elif verb == MENU_SPLIT:
                split_out(deps, incident, user, channel)
                refresh_card(deps, incident_id)

    return on_menu


def split_out(deps: SlackDeps, incident: Incident, user: str | None, channel: str | None) -> None:
    """Split the incident's last report into a new incident, post its card, and note it in the old thread."""
    assert incident.id is not None
    services = deps.services
    split = split_last_signal(services.engine, incident.id, answer=Answer("split", user))
    if not repoint(services.signal_index, split):
        log.info("INC-%s: the split-out signal has no vector of its own; its key leads repeats", split.new.id)
    services.calibration.recalibrate(incident.tenant)
    card = deps.poster.card(incident.id)
    where = card.channel if card is not None else channel
    if where is None:
        return
    post_card(deps, split.new, where, None)
    if card is not None and card.ts is not None:
        new_view = incident_view(deps, split.new)
        deps.poster.post_once(f"split:{split.new.id}", card.channel, f"Split into {new_view.ref}",
                              split_note(incident.id, new_view, user), kind="reply", incident_id=incident.id,
                              thread_ts=card.ts)


def make_merge_pick_handler(deps: SlackDeps) -> Handler:
    """The merge picker's select: "SOURCE:TARGET" merges, labels the pair same, and redraws both cards."""

    def on_pick(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        _, _, user, channel = _click(body)
        try:
            source_id, target_id = (int(part) for part in _selected(body).split(":", 1))
        except ValueError:
            return
        with _answer_failures(client, respond, channel, user, "that merge"):
            for incident_id in (source_id, target_id):
                incident, why = _live(deps, incident_id, _workspace_tenant(deps, body))
                if incident is None:
                    tell(client, respond, channel, user, why or "That incident can no longer change.")
                    refresh_card(deps, incident_id)
                    return
            merged = merge_incidents(deps.services.engine, source_id, target_id, answer=Answer("merge", user))
            deps.services.calibration.recalibrate(merged.tenant)
            refresh_card(deps, source_id)
            refresh_card(deps, target_id)
            note = merged_note(source_id, target_id, user)
            card = deps.poster.card(target_id)
            if card is not None and card.ts is not None:
                deps.poster.post_once(f"merged:{source_id}", card.channel, f"INC-{source_id} merged in", note,
                                      kind="reply", incident_id=target_id, thread_ts=card.ts)
            tell(client, respond, channel, user, f"Merged INC-{source_id} into INC-{target_id}.", note)

    return on_pick


def register(app: App, deps: SlackDeps) -> None:
    def ack_only(ack: Ack) -> None:
        ack()

    card = make_card_handler(deps)
    for action in (Ids.ACKNOWLEDGE, Ids.RESOLVE, *SNOOZE_HOURS, Ids.SHOW_RUNBOOK):
        app.action(action.value)(ack=ack_only, lazy=[card])
    question = make_question_handler(deps)
    for action in (Ids.SAME_INCIDENT, Ids.NEW_INCIDENT):
        app.action(action.value)(ack=ack_only, lazy=[question])
    app.action(Ids.CARD_MENU.value)(ack=ack_only, lazy=[make_menu_handler(deps)])
    app.action(Ids.MERGE_PICK.value)(ack=ack_only, lazy=[make_merge_pick_handler(deps)])
