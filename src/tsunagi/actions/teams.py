"""Teams of communicators: create, rename and set members, delete (audited), list.

Setting a team's members moves a user out of any other team in the same transaction (a
user is in one team at most, ``uq_team_members_user``). Figures read the membership when
a report runs (``actions.figures.reports``).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tsunagi.actions import audit
from tsunagi.actions.events import emit
from tsunagi.actions.routing.rows import utcnow
from tsunagi.adapters.storage.db import Database
from tsunagi.adapters.storage.models import User
from tsunagi.adapters.storage.team_models import Team, TeamMember
from tsunagi.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tsunagi.figures.teams import TeamChangedEvent, team_name

MAX_MEMBERS = 500


@dataclass(frozen=True, slots=True)
class TeamView:
    id: UUID
    name: str
    members: list[UUID]


async def list_teams(db: Database, *, tenant_id: UUID) -> list[TeamView]:
    async with db.scoped(tenant_id, readonly=True) as session:
        teams = (await session.scalars(select(Team).order_by(Team.name))).all()
        rows = (await session.execute(select(TeamMember.team_id, TeamMember.user_id))).all()
    members: dict[UUID, list[UUID]] = {}
    for team_id, user_id in rows:
        members.setdefault(team_id, []).append(user_id)
    return [TeamView(t.id, t.name, sorted(members.get(t.id, []))) for t in teams]


async def team_of_users(db: Database, *, tenant_id: UUID) -> dict[UUID, UUID]:
    """Each member's team (users in no team are absent)."""
    async with db.scoped(tenant_id, readonly=True) as session:
        rows = (await session.execute(select(TeamMember.user_id, TeamMember.team_id))).all()
    return {row.user_id: row.team_id for row in rows}


def _record(
    session: AsyncSession, team: Team, change: str, members: int, actor_user_id: UUID | None
) -> None:
    at = utcnow()
    audit.record(
        session,
        tenant_id=team.tenant_id,
        action=f"team.{change}",
        resource_type="team",
        resource_id=str(team.id),
        outcome="ok",
        actor_user_id=actor_user_id,
        detail={"name": team.name, "members": members},
    )
    emit(
        session,
        TeamChangedEvent(
            tenant_id=team.tenant_id,
            occurred_at=at,
            actor=None if actor_user_id is None else str(actor_user_id),
            team_id=team.id,
            change=change,
            members=members,
        ),
    )


async def _set_members(session: AsyncSession, team: Team, user_ids: list[UUID]) -> int:
    wanted = list(dict.fromkeys(user_ids))
    if len(wanted) > MAX_MEMBERS:
        raise InvalidInputError(f"members: at most {MAX_MEMBERS}")
    if wanted:
        known = set((await session.scalars(select(User.id).where(User.id.in_(wanted)))).all())
        missing = [str(u) for u in wanted if u not in known]
        if missing:
            raise InvalidInputError(f"members: no such user {missing[0]}")
    await session.execute(
        delete(TeamMember)
        .where((TeamMember.team_id == team.id) | TeamMember.user_id.in_(wanted))
        .execution_options(synchronize_session=False)
    )
    at = utcnow()
    for user_id in wanted:
        session.add(TeamMember(team_id=team.id, user_id=user_id, added_at=at))
    return len(wanted)


async def do_create_team(
    db: Database,
    *,
    tenant_id: UUID,
    name: str,
    members: list[UUID],
    actor_user_id: UUID | None,
) -> TeamView:
    checked = team_name(name)
    try:
        async with db.scoped(tenant_id) as session, session.begin():
            team = Team(name=checked, created_at=utcnow())
            session.add(team)
            await session.flush()
            count = await _set_members(session, team, members)
            _record(session, team, "created", count, actor_user_id)
    except IntegrityError as exc:
        raise ConflictError(f"a team called {checked!r} exists") from exc
    return TeamView(team.id, team.name, sorted(dict.fromkeys(members)))


async def do_update_team(
    db: Database,
    *,
    tenant_id: UUID,
    team_id: UUID,
    name: str,
    members: list[UUID],
    actor_user_id: UUID | None,
) -> TeamView:
    """Rename the team and make ``members`` its members (moved from other teams)."""
    try:
        async with db.scoped(tenant_id) as session, session.begin():
            team = await session.get(Team, team_id, with_for_update=True)
            if team is None:
                raise NotFoundError("team not found")
            team.name = team_name(name)
            count = await _set_members(session, team, members)
            _record(session, team, "updated", count, actor_user_id)
    except IntegrityError as exc:
        raise ConflictError(f"a team called {name.strip()!r} exists") from exc
    return TeamView(team.id, team.name, sorted(dict.fromkeys(members)))


async def do_delete_team(
    db: Database, *, tenant_id: UUID, team_id: UUID, actor_user_id: UUID | None
) -> None:
    async with db.scoped(tenant_id) as session, session.begin():
        team = await session.get(Team, team_id, with_for_update=True)
        if team is None:
            raise NotFoundError("team not found")
        _record(session, team, "deleted", 0, actor_user_id)
        await session.execute(
            delete(TeamMember)
            .where(TeamMember.team_id == team.id)
            .execution_options(synchronize_session=False)
        )
        await session.delete(team)
