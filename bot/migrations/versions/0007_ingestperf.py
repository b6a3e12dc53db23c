"""signals: the vector-index point each signal wrote, so a crash between commit and index write can be repaired

Revision ID: 0007_ingestperf
Revises: 0006_escalation
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ingestperf"
down_revision = "0006_escalation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("point_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_column("point_id")
