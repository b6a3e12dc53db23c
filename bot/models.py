"""Database tables (SQLModel): tenants, incidents, every signal received (stored raw), and what people taught dedup.

The schema is created and changed only by the Alembic migrations in bot/migrations.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    created_at: datetime


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (
        # One open incident per exact fingerprint and tenant; cleared on resolve, so a repeat
        # after resolution opens a new (regression) incident instead of colliding.
        UniqueConstraint("tenant", "open_key", name="uq_incidents_open_key"),
        Index("ix_incidents_tenant_status", "tenant", "status"),
        Index("ix_incidents_tenant_fingerprint_status", "tenant", "fingerprint", "status"),
        Index("ix_incidents_status_severity_first_seen", "status", "severity", "first_seen"),  # escalation sweep
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64, foreign_key="tenants.id")
    title: str = Field(max_length=300)
    text: str = Field(sa_column=Column(Text, nullable=False))
    service: str | None = Field(default=None, max_length=200)
    severity: str = Field(default="warning", max_length=20)
    status: str = Field(default="open", max_length=20)
    kind: str = Field(default="report", max_length=20)
    source: str | None = Field(default=None, max_length=100)
    fingerprint: str = Field(max_length=64)
    open_key: str | None = Field(default=None, max_length=64)
    occurrence_count: int = 1
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    runbook: str | None = Field(default=None, max_length=300)
    regression_of: int | None = Field(default=None, foreign_key="incidents.id")
    merged_into: int | None = Field(default=None, foreign_key="incidents.id")


class SignalRecord(SQLModel, table=True):
    __tablename__ = "signals"
    __table_args__ = (
        # A retried delivery of the same signal (same source, id and text) is stored once.
        UniqueConstraint("tenant", "idempotency_key", name="uq_signals_idempotency"),
        Index("ix_signals_incident", "incident_id"),
        Index("ix_signals_tenant_source", "tenant", "source", "id"),  # a source's recent signals
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64, foreign_key="tenants.id")
    external_id: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=100)
    kind: str = Field(max_length=20)
    status: str = Field(default="firing", max_length=20)
    raw: str = Field(sa_column=Column(Text, nullable=False))
    masked_hash: str = Field(max_length=64)
    received_at: datetime
    event_time: datetime
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    decision: str = Field(max_length=20)
    similarity: float | None = None
    candidate_id: int | None = Field(default=None, foreign_key="incidents.id")
    truncated: bool = False
    score: float | None = None  # the pair score the thresholds were applied to (matched or candidate incident)
    # The vector-index point this signal wrote (None for repeats decided without a vector); what a
    # repair after a crash between the commit and the index write checks and rebuilds.
    point_id: str | None = Field(default=None, max_length=36)


class InboxEntry(SQLModel, table=True):
    """A received signal, committed before the HTTP answer and processed later by the worker pool."""

    __tablename__ = "inbox"
    __table_args__ = (
        # The claim query walks pending (and expired processing) rows in id order.
        Index("ix_inbox_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64)
    source: str = Field(max_length=100)
    status: str = Field(default="pending", max_length=20)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = None
    finished_at: datetime | None = None
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Where to answer a report filed from Slack (channel, user, event key, response_url), as JSON.
    reply: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class SlackMessage(SQLModel, table=True):
    """A message Ballast posted to Slack, once per `key` (an incident's card, a reply to one event).

    The unique key is claimed before posting, so a retried delivery never posts twice; the card
    row also carries the channel and ts that thread replies and in-place updates need.
    """

    __tablename__ = "slack_messages"
    __table_args__ = (
        UniqueConstraint("key", name="uq_slack_messages_key"),
        Index("ix_slack_messages_incident", "incident_id", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255)
    kind: str = Field(max_length=20)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    channel: str = Field(max_length=64)
    ts: str | None = Field(default=None, max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    created_at: datetime
    snoozed_until: datetime | None = None


class PairLabel(SQLModel, table=True):
    """A person's answer about two incidents: same or not, with the pair score dedup computed for them.

    One row per unordered pair and tenant (`first_id` < `second_id`); a later answer replaces it.
    """

    __tablename__ = "pair_labels"
    __table_args__ = (
        UniqueConstraint("tenant", "first_id", "second_id", name="uq_pair_labels_pair"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64, foreign_key="tenants.id")
    first_id: int = Field(foreign_key="incidents.id")
    second_id: int = Field(foreign_key="incidents.id")
    kind: str = Field(max_length=20)          # "human" (a report in the pair) or "machine"
    score: float | None = None                # None: dedup never compared the two
    same: bool
    via: str = Field(max_length=20)           # question, merge, split, cli-merge, cli-split
    answered_by: str | None = Field(default=None, max_length=100)
    answered_at: datetime


class TenantThresholds(SQLModel, table=True):
    """The dedup thresholds recalibrated for one tenant and kind of source from its labelled pairs."""

    __tablename__ = "tenant_thresholds"

    tenant: str = Field(primary_key=True, max_length=64, foreign_key="tenants.id")
    kind: str = Field(primary_key=True, max_length=20)
    duplicate: float
    candidate: float
    labels: int                               # labelled pairs (with a score) the values were chosen from
    updated_at: datetime


class SlackNotice(SQLModel, table=True):
    """An intake decision still to be shown in Slack (card, thread reply, card refresh), stored with the
    decision so a Slack outage or a crash only delays it; `key` is the signal's, so a retry adds nothing."""

    __tablename__ = "slack_outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_slack_outbox_key"),
        Index("ix_slack_outbox_status_due", "status", "due_at"),
        Index("ix_slack_outbox_incident", "incident_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64)
    tenant: str = Field(max_length=64)
    incident_id: int = Field(foreign_key="incidents.id")
    kind: str = Field(max_length=20)  # new / regression / duplicate / resolve
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=20)
    due_at: datetime
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = None
    created_at: datetime
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class EscalationTimer(SQLModel, table=True):
    """When an incident escalates next and how many escalations it has posted; one per incident."""

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("incident_id", name="uq_escalations_incident"),
        Index("ix_escalations_state_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    tenant: str = Field(max_length=64)
    state: str = Field(default="pending", max_length=20)  # pending / done / stopped
    due_at: datetime
    fired: int = 0
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = None
    attempts: int = 0
    updated_at: datetime
    note: str | None = Field(default=None, max_length=200)
