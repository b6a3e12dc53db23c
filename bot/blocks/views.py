"""The frozen values Block Kit builders read: an incident as a card shows it, its similar past incidents, merge choices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SimilarIncident:
    id: int
    title: str
    status: str
    similarity: float
    link: str | None = None


@dataclass(frozen=True)
class IncidentChoice:
    """An incident offered as a merge target."""

    id: int
    title: str
    status: str


@dataclass(frozen=True)
class IncidentView:
    """What a card shows; `link` is the card's own permalink when it has been posted."""

    id: int
    title: str
    severity: str
    status: str
    occurrence_count: int
    first_seen: datetime
    last_seen: datetime
    service: str | None = None
    runbook: str | None = None
    runbook_title: str | None = None
    regression_of: int | None = None
    merged_into: int | None = None
    similar: tuple[SimilarIncident, ...] = ()
    snoozed_until: datetime | None = None
    acknowledged_by: str | None = None
    link: str | None = None

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"

    @property
    def closed(self) -> bool:
        return self.status == "resolved" or self.merged_into is not None


def slack_date(value: datetime) -> str:
    """A timestamp Slack renders in each reader's own time zone, with a UTC fallback."""
    epoch = int(value.timestamp())
    fallback = value.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"
