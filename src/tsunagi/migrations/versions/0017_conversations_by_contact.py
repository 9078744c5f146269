"""conversations: an index by (tenant_id, contact_id) for the customer history's join

The history page outer-joins ``conversations`` on ``contact_id`` with the tenant
criterion; with only the single-column indexes SQLite's planner used
``ix_conversations_tenant_id``, i.e. every history row scanned all the tenant's
conversations. ``ix_conversations_contact_id`` stays (it serves the foreign key's
ON DELETE SET NULL).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 07:37:51.857367
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_contact", "conversations", ["tenant_id", "contact_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_contact", table_name="conversations")
