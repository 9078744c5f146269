"""The application factory: settings in, a Litestar app out; nothing is built at import."""

from __future__ import annotations

import asyncio
import gc
import hashlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from tsunagi import __version__
from tsunagi.adapters.bus.memory import MemoryBus
from tsunagi.adapters.bus.redis import RedisBus
from tsunagi.adapters.ratelimit import AttemptLimiter, MemoryLimiter, RedisLimiter
from tsunagi.adapters.relay import OutboxRelay
from tsunagi.adapters.security.keyring import KeyRing, master_key_for
from tsunagi.adapters.security.passwords import PasswordHasher
from tsunagi.adapters.storage.db import Database
from tsunagi.ports.bus import EventBus
from tsunagi.settings import Settings
from tsunagi.web import events
from tsunagi.web.api import audit, customers, desktop, health, queues, status, tokens, users
from tsunagi.web.auth import LANG_COOKIE, PUBLIC, AuthMiddleware, authz_guard, current_principal
from tsunagi.web.channels.cors import WidgetCors
from tsunagi.web.errors import EXCEPTION_HANDLERS, status_headline
from tsunagi.web.features import feature_hooks, feature_routes, load_features
from tsunagi.web.i18n import AUDIT_LABELS, LANGUAGES, ROLE_LABELS, Catalogues, current_locale
from tsunagi.web.nav import NavItem, nav_for
from tsunagi.web.pages import auth as auth_pages
from tsunagi.web.pages import home
from tsunagi.web.services import Services

WEB_DIR = Path(__file__).resolve().parent
VENDOR_DIR = WEB_DIR.parents[2] / "node_modules" / ".vendor"
"""Where ``scripts/setup.sh`` puts the browser bundles built from npm packages."""
UNAUTHENTICATED_PATHS = ["^/static/", "^/api/health$", "^/api/schema"]


def settle_garbage_collector() -> None:
    """Keep full garbage collections short while serving.

    Everything loaded at start (modules, models, the knowledge index, the language
    model…) lives as long as the process: collect once, then freeze it, so a full
    collection scans only what requests and sockets made since. Young collections run
    less often too. In the chat benchmark this took full collections from 100–650 ms
    (second-long stalls at 200 messages/s) to none over 120 ms (benchmarks/chat)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def build_services(settings: Settings) -> Services:
    db = Database(settings.effective_database_url)
    bus: EventBus = RedisBus(settings.redis_url) if settings.redis_url else MemoryBus()
    limiter: AttemptLimiter
    public: AttemptLimiter
    if settings.redis_url:
        # Counters are per installation (its database), so installations sharing a Redis
        # (staging next to production, test servers) never spend each other's limits.
        installation = hashlib.sha256(settings.effective_database_url.encode()).hexdigest()[:12]
        limiter = RedisLimiter(
            settings.redis_url,
            limit=settings.login_attempts_per_window,
            window_s=settings.login_window_s,
            prefix=f"tsunagi:{installation}:rl:",
        )
        public = RedisLimiter(
            settings.redis_url,
            limit=settings.public_requests_per_minute,
            window_s=60,
            prefix=f"tsunagi:{installation}:public:",
        )
    else:
        limiter = MemoryLimiter(
            limit=settings.login_attempts_per_window, window_s=settings.login_window_s
        )
        public = MemoryLimiter(limit=settings.public_requests_per_minute, window_s=60)
    return Services(
        settings=settings,
        db=db,
        bus=bus,
        relay=OutboxRelay(db, bus, poll_interval_s=settings.relay_poll_interval_s),
        hasher=PasswordHasher(
            time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
        ),
        login_limiter=limiter,
        public_limiter=public,
        catalogues=Catalogues(),
        keyring=KeyRing(master_key_for(settings)),
    )


def _templates(catalogues: Catalogues) -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        enable_async=False,
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        catalogues.gettext, catalogues.ngettext, newstyle=True
    )
    environment.globals["current_lang"] = current_locale.get
    environment.globals["languages"] = LANGUAGES
    environment.globals["version"] = __version__
    environment.globals["nav"] = _nav
    environment.globals["status_headline"] = status_headline
    environment.filters["localtime"] = _localtime
    environment.filters["duration"] = _duration
    environment.globals["role_labels"] = ROLE_LABELS
    environment.globals["audit_labels"] = AUDIT_LABELS
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def _nav(request: Request[Any, Any, Any]) -> list[NavItem]:
    return nav_for(current_principal(request), request.app.state.get("page_paths", frozenset()))


_DURATION_UNITS = {"ja": ("時間", "分", "秒"), "en": ("h", "m", "s")}


def _duration(seconds: int) -> str:
    """A threshold as people say it, in the page's language: 20 → "20s" / "20秒",
    90 → "1m30s" / "1分30秒", 86400 → "24h" / "24時間"."""
    hour, minute, second = _DURATION_UNITS.get(current_locale.get(), _DURATION_UNITS["en"])
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600}{hour}"
    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes}{minute}{rest}{second}" if rest else f"{minutes}{minute}"
    return f"{seconds}{second}"


def _localtime(value: datetime, zone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Show a UTC datetime in the center's time zone."""
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def _choose_locale(request: Request[Any, Any, Any], default: str) -> str:
    principal = current_principal(request)
    if principal is not None and principal.locale in LANGUAGES:
        return principal.locale
    cookie = request.cookies.get(LANG_COOKIE)
    return cookie if cookie in LANGUAGES else default


Background = Callable[[Services, asyncio.Event], Coroutine[Any, Any, None]]


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    background: Sequence[Background] = (),
) -> Litestar:
    """Build the app. Pass ``services`` to share a database or bus with a test, and
    ``background`` for jobs that run while the app serves (each gets a stop event)."""
    settings.check_production()
    built = services or build_services(settings)
    features = load_features()
    stop = asyncio.Event()

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await built.bus.start()
        await built.relay.start()
        for startup in feature_hooks(features, "startup"):
            await startup(built)
        settle_garbage_collector()
        jobs = [asyncio.create_task(job(built, stop)) for job in background]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*jobs, return_exceptions=True)
            for shutdown in reversed(feature_hooks(features, "shutdown")):
                await shutdown(built)
            await built.relay.stop()
            await built.bus.stop()
            await built.login_limiter.close()
            await built.public_limiter.close()
            if services is None:
                await built.db.dispose()

    async def set_locale(request: Request[Any, Any, Any]) -> None:
        current_locale.set(_choose_locale(request, settings.default_locale))

    static = create_static_files_router(
        path="/static",
        directories=[WEB_DIR / "static"],
        # Cheap files a whole floor loads through one NAT: a generous share of the limit.
        opt={"authz": PUBLIC, "rate_limit": ("static", 20)},
        include_in_schema=False,
    )
    # Browser libraries from npm (package.json), bundled at install time by scripts/setup.sh
    # into node_modules/.vendor: the desk softphone's JsSIP. Never committed, never a CDN.
    vendor = create_static_files_router(
        path="/static/vendor",
        directories=[VENDOR_DIR],
        opt={"authz": PUBLIC, "rate_limit": ("static", 20)},
        include_in_schema=False,
        name="vendor",
    )
    openapi_router = Router(
        path="/api/schema", route_handlers=[], opt={"authz": PUBLIC, "rate_limit": "schema"}
    )
    app = Litestar(
        route_handlers=[
            static,
            vendor,
            health.health,
            *status.ROUTES,
            *users.ROUTES,
            *tokens.ROUTES,
            *audit.ROUTES,
            *queues.ROUTES,
            *customers.ROUTES,
            *desktop.ROUTES,
            *events.ROUTES,
            *auth_pages.ROUTES,
            *home.ROUTES,
            *feature_routes(features),
        ],
        middleware=[
            DefineMiddleware(WidgetCors),
            DefineMiddleware(AuthMiddleware, exclude=UNAUTHENTICATED_PATHS),
        ],
        guards=[authz_guard],
        before_request=set_locale,
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=_templates(built.catalogues),
        openapi_config=OpenAPIConfig(
            title="Tsunagi API",
            version=__version__,
            path="/api/schema",
            openapi_router=openapi_router,
            render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
        ),
        lifespan=[lifespan],
        state=State({"services": built}),
        debug=settings.debug and settings.env != "production",
    )
    app.state.page_paths = frozenset(route.path for route in app.routes)
    return app
