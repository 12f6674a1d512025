"""The peer of ``bench/webhooks.py --peer pywa``: a minimal pywa (async) WhatsApp bot on FastAPI.

It runs in the benchmark's own virtual environment (``webhooks.py`` creates it and installs pywa,
FastAPI and uvicorn there; pywa is not a dependency of Frontdesk). What it does per webhook is what
such a bot does out of the box: pywa verifies ``X-Hub-Signature-256`` with the app secret, answers
200, parses the update into its types and calls an empty message handler. It stores nothing, and
its duplicate check (pywa's default) lives in this process's memory only.

    uvicorn --app-dir bench peer_pywa:app      # BENCH_APP_SECRET and BENCH_WEBHOOK_PATH from the env
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from pywa_async import WhatsApp, types

app = FastAPI()

wa = WhatsApp(
    phone_id=os.environ.get("BENCH_PHONE_ID", "1234567890"),
    token="bench-access-token",  # never used: the handler sends nothing
    server=app,
    webhook_endpoint=os.environ.get("BENCH_WEBHOOK_PATH", "/webhooks/meta"),
    verify_token="bench-verify-token",
    app_secret=os.environ["BENCH_APP_SECRET"],
    validate_updates=True,
)


@wa.on_message()
async def on_message(client: WhatsApp, message: types.Message) -> None:
    """Empty: the figure is pywa's own cost of receiving a message."""


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
