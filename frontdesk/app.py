"""create_app(settings): the HTTP face of a Runtime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from frontdesk import __version__
from frontdesk.api import (
    appointments,
    config_routes,
    conversations,
    health,
    legacy,
    messaging,
    prompts,
    records,
    runs,
    unattributed,
    voice,
    webchat,
    webhooks,
)
from frontdesk.api import errors as api_errors
from frontdesk.api.fast_paths import FastPaths
from frontdesk.api.limits import BodySizeLimit
from frontdesk.api.stream_slots import StreamSlots
from frontdesk.observability.logging import configure_logging
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings, get_settings

# Provider webhooks first: the busiest paths match after the fewest route checks.
ROUTERS = (
    webhooks,
    voice,
    webchat,
    config_routes,
    conversations,
    unattributed,
    messaging,
    health,
    legacy,
    records,
    appointments,
    runs,
    prompts,
)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else get_settings())
    configure_logging(settings)
    rt = runtime or Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        owns = not rt.started
        if owns:
            await rt.start()
        try:
            yield
        finally:
            if owns:
                await rt.stop()

    app = FastAPI(
        title="Frontdesk",
        version=__version__,
        description="AI agents on business messaging channels: configuration, conversations, web chat.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks check the global providers on every request; Frontdesk
        # reports what it does itself (observability/), so they would only cost time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = rt
    app.state.stream_slots = StreamSlots(
        settings.webchat_streams_per_session, settings.webchat_streams_per_address
    )
    app.state.webchat_signer = webchat.session_signer(rt)
    api_errors.install(app)
    # Added first, so BodySizeLimit (added last, outermost) bounds its bodies too.
    app.add_middleware(FastPaths, runtime=rt)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for module in ROUTERS:
        app.include_router(module.router)
    return app
