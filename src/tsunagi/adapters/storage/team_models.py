"""Teams of communicators (issue 6's "by team" figures), migration 0015.

* ``teams`` — a named group of a tenant (unique name per tenant), managed by managers.
* ``team_members`` — which team a user is in: **one team per user** (unique per tenant and
  user), so a team's figures are exact sums over its members and the teams of a report
  add up to the whole without counting anyone twice. Membership is the current one:
  a communicator who moves takes their history along (figures are by person, and a
  person's past contacts are attributed to the team they are in when the report runs).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, TenantScoped
from tsunagi.domain.ids import new_id


class Team(TenantScoped, Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_teams_tenant_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class TeamMember(TenantScoped, Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", name="uq_team_members_user"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    added_at: Mapped[datetime]
