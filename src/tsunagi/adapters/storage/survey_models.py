"""Survey answers (issue 6): NPS and CSAT after a contact.

* ``survey_responses`` — one answer per contact and survey kind (``contact``: the survey
  after a contact; unique, so a second answer is refused): the NPS score (0-10) and/or the
  CSAT score (1-5), the customer's comment sealed with the tenant keyring (personal data,
  ``comment_enc``), the channel the answer came by (chat widget, or the link page of an
  email or SMS invitation), the language and when it was answered. The scores are also in
  the ``survey.answered`` event, which the figures fold; the comment never is.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tsunagi.adapters.storage.models import Base, TenantScoped
from tsunagi.domain.ids import new_id


class SurveyResponse(TenantScoped, Base):
    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id", "kind", name="uq_survey_responses_contact"),
        CheckConstraint("nps_score IS NULL OR nps_score BETWEEN 0 AND 10", name="nps_range"),
        CheckConstraint("csat_score IS NULL OR csat_score BETWEEN 1 AND 5", name="csat_range"),
        CheckConstraint("nps_score IS NOT NULL OR csat_score IS NOT NULL", name="some_score"),
        Index("ix_survey_responses_answered", "tenant_id", "answered_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("routing_contacts.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16), default="contact")
    nps_score: Mapped[int | None] = mapped_column(SmallInteger)
    csat_score: Mapped[int | None] = mapped_column(SmallInteger)
    comment_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    channel: Mapped[str] = mapped_column(String(16))  # chat | email | sms | web
    lang: Mapped[str] = mapped_column(String(8), default="ja")
    answered_at: Mapped[datetime]
