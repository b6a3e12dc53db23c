"""incidents: index (tenant, fingerprint, status) for the regression lookup

Without it SQLite (which keeps no statistics) plans `last resolved incident with this
fingerprint` on the (tenant, status) index and scans every resolved incident of the tenant.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_tenant_fingerprint")
        batch_op.create_index("ix_incidents_tenant_fingerprint_status", ["tenant", "fingerprint", "status"])


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_tenant_fingerprint_status")
        batch_op.create_index("ix_incidents_tenant_fingerprint", ["tenant", "fingerprint"])
