"""Every table of Tsunagi, gathered so Alembic and the schema tests see the whole metadata.

Feature packages that add tables import their model module here (one line each).
"""

from __future__ import annotations

from tsunagi.adapters.storage import (
    conversation_models,  # noqa: F401 - registers the written channels' tables
    crm_models,  # noqa: F401 - registers the customer tables
    desk_models,  # noqa: F401 - registers the desktop's follow-up tasks
    figures_models,  # noqa: F401 - registers the figures tables
    kb_models,  # noqa: F401 - registers the knowledge tables
    models,
    report_models,  # noqa: F401 - registers the scheduled figure reports
    routing_models,  # noqa: F401 - registers the routing tables
    survey_models,  # noqa: F401 - registers the survey answers
    team_models,  # noqa: F401 - registers teams of communicators
)
from tsunagi.adapters.storage.models import Base

metadata = Base.metadata

__all__ = ["Base", "metadata", "models"]
