"""signals: index (tenant, source, id); incidents: index (status, severity, first_seen)

The first serves intake's look at a source's most recent signals (is it a log stream?), which
otherwise scans every signal of the tenant. The second serves the escalation arming sweep (open
incidents of a severity, recently first seen), which runs every few seconds in `ballast serve`.

Revision ID: 0008_sweep_indexes
Revises: 0007_ingestperf
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0008_sweep_indexes"
down_revision = "0007_ingestperf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index("ix_signals_tenant_source", ["tenant", "source", "id"])
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_status_severity_first_seen", ["status", "severity", "first_seen"])


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_status_severity_first_seen")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index("ix_signals_tenant_source")
