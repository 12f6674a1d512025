"""create_app(settings): the HTTP face of a Runtime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from frontdesk import __version__
from frontdesk.api import errors as api_errors
from frontdesk.observability.logging import configure_logging
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings, get_settings


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
    )
    app.state.runtime = rt
    from frontdesk.api.stream_slots import StreamSlots

    app.state.stream_slots = StreamSlots(
        settings.webchat_streams_per_session, settings.webchat_streams_per_address
    )
    api_errors.install(app)

    from frontdesk.api import (
        config_routes,
        conversations,
        health,
        legacy,
        messaging,
        unattributed,
        voice,
        webchat,
        webhooks,
    )
    from frontdesk.api.limits import BodySizeLimit

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Provider webhooks first: the busiest paths match after the fewest route checks.
    routers = (
        webhooks,
        voice,
        webchat,
        config_routes,
        conversations,
        unattributed,
        messaging,
        health,
        legacy,
    )
    for module in routers:
        app.include_router(module.router)
    from frontdesk.api import records as records_api

    app.include_router(records_api.router)
    from frontdesk.api import appointments as appointments_api

    app.include_router(appointments_api.router)
    from frontdesk.api import prompts as prompts_api
    from frontdesk.api import runs as runs_api

    app.include_router(runs_api.router)
    app.include_router(prompts_api.router)
    return app
