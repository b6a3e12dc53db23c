"""calibration: labelled incident pairs, per-tenant thresholds, and the pair score of each signal

Revision ID: 0005_calibration
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005_calibration"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))
    op.create_table(
        "pair_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("second_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("same", sa.Boolean(), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("answered_by", sa.String(length=100), nullable=True),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["first_id"], ["incidents.id"]),
        sa.ForeignKeyConstraint(["second_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "first_id", "second_id", name="uq_pair_labels_pair"),
    )
    op.create_table(
        "tenant_thresholds",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("duplicate", sa.Float(), nullable=False),
        sa.Column("candidate", sa.Float(), nullable=False),
        sa.Column("labels", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant", "kind"),
    )


def downgrade() -> None:
    op.drop_table("tenant_thresholds")
    op.drop_table("pair_labels")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_column("score")
