"""VOC: the month's mined topics as JSON (``/api/v1/figures/voc``), as a page
(``/figures/voc``) and as the monthly report PDF (``/figures/voc/report.pdf``).

All three read sealed text (notes, messages) through :func:`actions.figures.voc.voc_month`,
which writes one audit entry per run; what they return is masked. Same grant as the
figures: supervisors, managers, administrators, a client viewer for its own tenant; not
communicators.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.exceptions import ServiceUnavailableException
from litestar.params import QueryParameter
from litestar.response import Template

from tsunagi.actions.accounts import get_tenant
from tsunagi.actions.figures import reports
from tsunagi.actions.figures.voc import VocMonth, voc_month
from tsunagi.figures import voc
from tsunagi.web.api.schemas import Output
from tsunagi.web.auth import csrf_for, require_principal
from tsunagi.web.i18n import current_locale
from tsunagi.web.services import services_of

AnyRequest = Request[Any, Any, Any]
READ = {"authz": ("read", "figures")}
MAX_ACTIONS_CHARS = 4000

Month = Annotated[
    str | None,
    QueryParameter(description="YYYY-MM, the tenant's local month (default: last month)"),
]
CategoryParam = Annotated[
    str | None, QueryParameter(description="a wrap-up category code; empty: all")
]


class TermOut(Output):
    term: str
    texts: int
    count: int


class TopicOut(Output):
    term: str
    texts: int
    rank: int
    previous_rank: int | None
    previous_texts: int


class RisingOut(Output):
    term: str
    texts: int
    total: int
    texts_before: int
    total_before: int
    ratio: float
    g2: float


class PairOut(Output):
    a: str
    b: str
    texts: int
    pmi: float


class VerbatimOut(Output):
    topic: str
    text: str
    category: str
    source: str
    tone: str | None


class VocOut(Output):
    month: str
    category: str | None
    texts: int
    available: int  # the month's texts before sampling (all categories)
    texts_before: int
    months: list[str]
    sources: dict[str, int]
    tones: dict[str, int]
    volumes: dict[str, dict[str, int]]
    contacts: dict[str, dict[str, int]]
    top: list[TopicOut]
    phrases: list[TermOut]
    categories: dict[str, list[TermOut]]
    rising: list[RisingOut]
    pairs: list[PairOut]
    verbatims: list[VerbatimOut]
    compliments: list[VerbatimOut]
    complaints: list[VerbatimOut]


async def _month(request: AnyRequest, month: str | None) -> str:
    if month is not None:
        return voc.parse_month(month)
    principal = require_principal(request)
    today: date = await reports.tenant_today(services_of(request).db, principal.tenant_id)
    return voc.shift_month(today.strftime("%Y-%m"), -1)


async def _read(
    request: AnyRequest,
    month: str | None,
    category: str | None,
    why: str,
    actions: str | None = None,
    locale: str | None = None,
) -> VocMonth:
    principal = require_principal(request)
    services = services_of(request)
    chosen = await _month(request, month)
    return await voc_month(
        services.db,
        services.keyring,
        principal=principal,
        month=chosen,
        category=category or None,
        reason=f"{why} {chosen}",
        locale=locale or current_locale.get(),
        actions=(actions or "")[:MAX_ACTIONS_CHARS].splitlines(),
    )


def _terms(items: list[voc.TermCount]) -> list[TermOut]:
    return [TermOut(term=t.display, texts=t.texts, count=t.count) for t in items]


def _verbatims(items: list[voc.Verbatim]) -> list[VerbatimOut]:
    return [
        VerbatimOut(topic=v.topic, text=v.text, category=v.category, source=v.source, tone=v.tone)
        for v in items
    ]


@get("/api/v1/figures/voc", opt=READ, tags=["figures"])
async def read_voc(
    request: AnyRequest, month: Month = None, category: CategoryParam = None
) -> VocOut:
    """Top terms and phrases, rising topics, co-occurrence and masked verbatims of a month
    (see docs/figures.md, *Voice of the customer*)."""
    found = await _read(request, month, category, "VOC API")
    s = found.summary
    return VocOut(
        month=s.month,
        category=category or None,
        texts=s.texts,
        available=found.available,
        texts_before=s.texts_before,
        months=s.months,
        sources=s.sources,
        tones=s.tones,
        volumes=s.volumes,
        contacts=found.contacts,
        top=[
            TopicOut(
                term=t.display,
                texts=t.texts,
                rank=t.rank,
                previous_rank=t.previous_rank,
                previous_texts=t.previous_texts,
            )
            for t in s.top
        ],
        phrases=_terms(s.phrases),
        categories={code: _terms(items) for code, items in s.categories.items()},
        rising=[
            RisingOut(
                term=r.display,
                texts=r.texts,
                total=r.total,
                texts_before=r.texts_before,
                total_before=r.total_before,
                ratio=round(r.ratio, 4),
                g2=round(r.g2, 4),
            )
            for r in s.rising
        ],
        pairs=[PairOut(a=p.a, b=p.b, texts=p.texts, pmi=round(p.pmi, 4)) for p in s.pairs],
        verbatims=_verbatims(s.verbatims),
        compliments=_verbatims(s.compliments),
        complaints=_verbatims(s.complaints),
    )


@get("/figures/voc", opt={**READ, "page": True})
async def voc_page(
    request: AnyRequest, month: Month = None, category: CategoryParam = None
) -> Template:
    """The VOC page: the month's topics, what rose, what goes together, verbatims."""
    principal = require_principal(request)
    db = services_of(request).db
    found = await _read(request, month, category, "VOC page")
    chosen = found.summary.month
    top = max((t.texts for t in found.summary.top), default=0) or 1
    return Template(
        "figures/voc.html",
        context={
            "principal": principal,
            "tenant": await get_tenant(db, principal.tenant_id),
            "csrf": csrf_for(request),
            "voc": found,
            "s": found.summary,
            "month": chosen,
            "category": category or "",
            "top_texts": top,
            "pdf": "/figures/voc/report.pdf?" + urlencode({"month": chosen}),
            "previous": voc.shift_month(chosen, -1),
            "next": voc.shift_month(chosen, 1),
        },
    )


@get("/figures/voc/report.pdf", opt=READ)
async def voc_report_pdf(
    request: AnyRequest,
    month: Month = None,
    actions: Annotated[
        str | None,
        QueryParameter(description="actions taken this month, one per line (from the page)"),
    ] = None,
    lang: Annotated[
        str | None, QueryParameter(description="ja or en (default: the reader's language)")
    ] = None,
) -> Response[bytes]:
    """The monthly VOC report as PDF (Japanese or English by the reader's language)."""
    from tsunagi.web.figures.voc_pdf import FontMissingError, register_font, render_pdf

    try:
        register_font()
    except FontMissingError as error:  # an installation problem, said before reading texts
        raise ServiceUnavailableException(detail=str(error)) from error

    principal = require_principal(request)
    services = services_of(request)
    language = lang if lang in ("ja", "en") else current_locale.get()
    found = await _read(request, month, None, "VOC report", actions, language)
    tenant = await get_tenant(services.db, principal.tenant_id)
    content = render_pdf(
        found,
        tenant_name=tenant.name,
        gettext=services.catalogues.get(language).gettext,
    )
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="voc-{found.summary.month}.pdf"',
            "x-content-type-options": "nosniff",
        },
    )


ROUTES = [read_voc, voc_page, voc_report_pdf]
