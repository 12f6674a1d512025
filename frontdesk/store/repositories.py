"""The repositories over one database, built once (they hold prebuilt statements and caches).

SQL lives in ``store/``. A repository's method runs its own transaction and chooses how: the hot
path (ingest, the turn, the outbox, web chat streams) through the database's threads
(``Database.run_read`` / ``run_write``), the API's reads through the async engine
(``Database.read``); callers never choose. Work of a layer above that must commit in the same
transaction (the job queue's enqueue or completion) is passed in as a function of the connection.
The repositories that need no state of their own are modules of functions taking the ``Database``
(``channel_health``, ``conversation_list``, ``messages``, ``routing``, ``runs``, …).
"""

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
