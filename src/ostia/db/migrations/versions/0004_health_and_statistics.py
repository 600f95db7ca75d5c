"""health and statistics: amphora_health

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 03:25:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # listener_statistics exists since 0001; the health manager now fills it.
    op.create_table(
        "amphora_health",
        sa.Column("amphora_id", sa.String(length=36), nullable=False),
        sa.Column("last_update", sa.DateTime(), nullable=False),
        sa.Column("busy", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("amphora_id", name=op.f("pk_amphora_health")),
    )


def downgrade() -> None:
    op.drop_table("amphora_health")
