"""The repositories over one database, built once (they hold prebuilt statements and caches)."""

from __future__ import annotations

from frontdesk.store.conversations import Conversations
from frontdesk.store.db import Database
from frontdesk.store.inbound import Inbound
from frontdesk.store.outbox import Outbox
from frontdesk.store.replies import Replies


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.inbound = Inbound(db)
        self.conversations = Conversations(db)
        self.outbox = Outbox(db, self.inbound)
        self.replies = Replies(db)
