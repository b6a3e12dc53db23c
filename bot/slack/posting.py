"""Posting to Slack at most once per key: claim a `slack_messages` row, post, record the ts.

A retried Events API delivery or a second click finds the claim and posts nothing. A post whose
response was lost on the wire is looked up by its metadata before it is sent again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.blocks.limits import FALLBACK_TEXT, clip, clip_id
from bot.incidents import as_utc, utcnow
from bot.models import SlackMessage

log = logging.getLogger(__name__)
METADATA_EVENT = "ballast_post"
STALE_CLAIM = timedelta(minutes=2)  # a claim this old without a ts died with its process


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str
    thread_ts: str | None = None


def permalink(channel: str, ts: str, thread_ts: str | None = None) -> str:
    """Slack's archive URL for a message (it redirects to the right workspace)."""
    link = f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
    return link + (f"?thread_ts={thread_ts}&cid={channel}" if thread_ts else "")


class Poster:
    """The only writer of Slack messages: chat.postMessage and chat.update behind idempotency keys."""

    def __init__(self, engine: Engine, client: WebClient) -> None:
        self.engine = engine
        self.client = client

    # -- the record ----------------------------------------------------------------------------

    def card(self, incident_id: int) -> SlackMessage | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.exec(select(SlackMessage).where(  # type: ignore[call-overload]
                SlackMessage.key == card_key(incident_id), SlackMessage.ts.is_not(None)  # type: ignore[union-attr]
            )).scalars().first()

    def claimed(self, key: str) -> bool:
        with Session(self.engine) as session:
            found = session.exec(select(SlackMessage.id).where(SlackMessage.key == clip_id(key)))  # type: ignore[call-overload]
            return found.first() is not None

    def set_snooze(self, incident_id: int, until: datetime | None) -> None:
        with Session(self.engine) as session:
            session.execute(update(SlackMessage).where(SlackMessage.key == card_key(incident_id))  # type: ignore[arg-type]
                            .values(snoozed_until=until))
            session.commit()

    def _claim(self, key: str, kind: str, incident_id: int | None, channel: str,
               thread_ts: str | None) -> SlackMessage | None:
        """The claimed row, or None when this key was posted (or is being posted) already."""
        with Session(self.engine, expire_on_commit=False) as session:
            row = SlackMessage(key=key, kind=kind, incident_id=incident_id, channel=channel,
                               thread_ts=thread_ts, created_at=utcnow())
            try:
                session.add(row)
                session.commit()
                return row
            except IntegrityError:
                session.rollback()
            existing = session.exec(select(SlackMessage).where(SlackMessage.key == key)).scalars().first()  # type: ignore[call-overload]
            if existing is None or existing.ts is not None or utcnow() - as_utc(existing.created_at) < STALE_CLAIM:
                return None
            existing.created_at = utcnow()  # take over a claim whose poster died before it finished
            session.add(existing)
            session.commit()
            return existing

    def _record(self, row: SlackMessage, posted: Posted) -> None:
        with Session(self.engine) as session:
            session.execute(update(SlackMessage).where(SlackMessage.id == row.id)  # type: ignore[arg-type]
                            .values(ts=posted.ts, channel=posted.channel))
            session.commit()

    def _release(self, row: SlackMessage) -> None:
        with Session(self.engine) as session:
            session.execute(delete(SlackMessage).where(SlackMessage.id == row.id))  # type: ignore[arg-type]
            session.commit()

    # -- Slack ---------------------------------------------------------------------------------

    def post_once(self, key: str, channel: str, text: str, blocks: list[Block], *, kind: str,
                  incident_id: int | None = None, thread_ts: str | None = None) -> Posted | None:
        """Post unless `key` was posted before; None means someone already did."""
        key = clip_id(key)
        row = self._claim(key, kind, incident_id, channel, thread_ts)
        if row is None:
            return None
        try:
            posted = self._post(key, channel, text, blocks, thread_ts)
        except BaseException:
            self._release(row)  # let a later retry post it
            raise
        self._record(row, posted)
        return posted

    def _post(self, key: str, channel: str, text: str, blocks: list[Block], thread_ts: str | None) -> Posted:
        kwargs: dict[str, Any] = {
            "channel": channel, "text": clip(text, FALLBACK_TEXT), "blocks": blocks, "thread_ts": thread_ts,
            "metadata": {"event_type": METADATA_EVENT, "event_payload": {"key": key}},
            "unfurl_links": False, "unfurl_media": False,
        }
        try:
            response = self.client.chat_postMessage(**kwargs)
        except (ConnectionError, TimeoutError, OSError) as exc:
            # The request may have reached Slack; only post again if no message carries our key.
            found = self._find_posted(key, channel, thread_ts)
            if found is not None:
                log.info("post %s reached Slack before the connection failed (%s)", key, exc)
                return found
            response = self.client.chat_postMessage(**kwargs)
        return Posted(str(response["channel"]), str(response["ts"]), thread_ts)

    def _find_posted(self, key: str, channel: str, thread_ts: str | None) -> Posted | None:
        try:
            if thread_ts:
                page = self.client.conversations_replies(channel=channel, ts=thread_ts, limit=50,
                                                         include_all_metadata=True)
            else:
                page = self.client.conversations_history(channel=channel, limit=50, include_all_metadata=True)
        except SlackApiError:
            return None
        for message in page.get("messages") or []:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                return Posted(channel, str(message["ts"]), thread_ts)
        return None

    def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        """Replace a message in place (updates are idempotent: the last state wins)."""
        self.client.chat_update(channel=channel, ts=ts, text=clip(text, FALLBACK_TEXT), blocks=blocks)


def card_key(incident_id: int) -> str:
    return f"card:{incident_id}"
