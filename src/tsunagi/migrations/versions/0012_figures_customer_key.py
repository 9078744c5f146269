"""figures contacts keep the customer's keyed hash (repeat-contact check)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("figures_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_key", sa.String(length=96), nullable=True))
        batch_op.create_index(
            "ix_figures_contacts_customer", ["tenant_id", "customer_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("figures_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_figures_contacts_customer")
        batch_op.drop_column("customer_key")
