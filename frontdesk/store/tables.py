"""The schema. Every tenant-owned row carries ``tenant_id``; the database keeps the invariants.

Partial unique indexes (SQLite and PostgreSQL both have them) carry the guarantees of DESIGN.md:
one active channel per phone number and per (provider, routing key), one primary mapping per
channel, one stored copy per provider message id, one outbound row per idempotency key, one queued
and one running job per conversation.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

TS = sa.DateTime(timezone=True)


def _now() -> sa.ColumnElement:
    return sa.func.current_timestamp()


def _tenant_fk() -> sa.Column:
    return sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False
    )


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", TS, nullable=False, server_default=_now()),
        sa.Column("updated_at", TS, nullable=False, server_default=_now()),
    ]


def length_of(column: sa.Column) -> int:
    """The bound of a string column (PostgreSQL enforces it, SQLite does not)."""
    length = getattr(column.type, "length", None)
    assert isinstance(length, int), column
    return length


# The condition of the partial index ``ix_messages_unanswered``; queries that read unanswered
# messages state it with ``unanswered()``, literally: a bound 'in' would not select the index.
UNANSWERED = "direction = 'in' AND turn_id IS NULL"


def unanswered(table: sa.FromClause) -> sa.ColumnElement[bool]:
    """``UNANSWERED`` on ``table`` (``messages`` or an alias of it)."""
    return sa.and_(table.c.direction == sa.literal_column("'in'"), table.c.turn_id.is_(None))


def _partial_unique(name: str, *cols: str, where: str) -> sa.Index:
    clause = sa.text(where)
    return sa.Index(name, *cols, unique=True, sqlite_where=clause, postgresql_where=clause)


tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("business_profile", sa.JSON, nullable=False, default=dict),
    sa.Column("timezone", sa.String(64), nullable=False, default="UTC"),
    sa.Column("settings", sa.JSON, nullable=False, default=dict),
    # Bumped by every configuration or knowledge change, so caches in any process can tell.
    sa.Column("revision", sa.Integer, nullable=False, default=0),
    *_stamps(),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("agent_id", sa.String(128), primary_key=True),
    _tenant_fk(),
    sa.Column("agent_name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("config", sa.JSON, nullable=False, default=dict),
    sa.Column("foundry_endpoint", sa.String(500)),
    *_stamps(),
    sa.Index("ix_agents_tenant", "tenant_id"),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("channel_id", sa.String(128), primary_key=True),
    _tenant_fk(),
    sa.Column("channel_name", sa.String(200), nullable=False),
    sa.Column("channel_type", sa.String(16), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("phone_number", sa.String(20)),
    sa.Column("business_name", sa.String(200)),
    sa.Column("routing_key", sa.String(200), nullable=False),
    sa.Column("credentials", sa.Text, nullable=False, default=""),  # MultiFernet token of a JSON object
    sa.Column("credential_fields", sa.JSON, nullable=False, default=list),
    sa.Column("settings", sa.JSON, nullable=False, default=dict),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    *_stamps(),
    sa.Index("ix_channels_tenant", "tenant_id"),
    _partial_unique("uq_channels_active_phone", "phone_number", where="active AND phone_number IS NOT NULL"),
    _partial_unique("uq_channels_active_routing", "provider", "routing_key", where="active"),
)

mappings = sa.Table(
    "mappings",
    metadata,
    sa.Column("mapping_id", sa.String(128), primary_key=True),
    _tenant_fk(),
    sa.Column(
        "agent_id", sa.String(128), sa.ForeignKey("agents.agent_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "channel_id", sa.String(128), sa.ForeignKey("channels.channel_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("is_primary", sa.Boolean, nullable=False, default=False),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    *_stamps(),
    sa.UniqueConstraint("channel_id", "agent_id"),
    _partial_unique("uq_mappings_primary", "channel_id", where="is_primary"),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("contact_id", sa.String(40), primary_key=True),
    _tenant_fk(),
    sa.Column("display_name", sa.String(200)),
    sa.Column("phone_e164", sa.String(20)),
    # The customer's chosen handle where the channel has one (a WhatsApp username): shown, never a key.
    sa.Column("handle", sa.String(200)),
    *_stamps(),
    sa.Index("ix_contacts_tenant_phone", "tenant_id", "phone_e164"),
)

contact_identities = sa.Table(
    "contact_identities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _tenant_fk(),
    sa.Column(
        "contact_id", sa.String(40), sa.ForeignKey("contacts.contact_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("address", sa.String(320), nullable=False),
    # "" for addresses that mean the same customer on every channel of the tenant (a phone number, a
    # chat id); what issued the address otherwise: a WhatsApp BSUID is valid only within the
    # business portfolio behind the channel ("portfolio:<id>" or "channel:<id>", model.bsuid).
    sa.Column("scope", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.UniqueConstraint("tenant_id", "provider", "scope", "address"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("conversation_id", sa.String(40), primary_key=True),
    _tenant_fk(),
    sa.Column(
        "channel_id", sa.String(128), sa.ForeignKey("channels.channel_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "contact_id", sa.String(40), sa.ForeignKey("contacts.contact_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("thread", sa.String(200), nullable=False, default=""),
    sa.Column("mode", sa.String(16), nullable=False, default="bot"),
    sa.Column("needs_human", sa.Boolean, nullable=False, default=False),
    sa.Column("needs_human_reason", sa.Text),
    sa.Column("agent_id", sa.String(128)),
    # The person handling it while ``mode`` is "human" (users.user_id; no FK: users live in
    # people_tables, which imports this module).
    sa.Column("assignee_id", sa.String(40)),
    # A conversation started by a test tool (/route/message, `frontdesk chat`): replies stay in the
    # store for the caller to read instead of going to a provider.
    sa.Column("simulated", sa.Boolean, nullable=False, default=False),
    sa.Column("last_message_at", TS),
    *_stamps(),
    sa.UniqueConstraint("channel_id", "contact_id", "thread"),
    sa.Index("ix_conversations_tenant_last", "tenant_id", "last_message_at"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    _tenant_fk(),
    sa.Column(
        "conversation_id",
        sa.String(40),
        sa.ForeignKey("conversations.conversation_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("channel_id", sa.String(128), nullable=False),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, default="text"),
    sa.Column("text", sa.Text, nullable=False, default=""),
    sa.Column("payload", sa.JSON),
    # Inbound: the provider's message id (dedup). Outbound: what the provider gave back on send.
    sa.Column("provider_message_id", sa.String(200)),
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_reason", sa.Text),
    sa.Column("error_code", sa.String(40)),
    # Inbound: the turn that answered it (NULL = not answered yet). Outbound: the turn that made it.
    sa.Column("turn_id", sa.String(80)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TS),
    # Outbound: sent again after its sender died mid-send, through a provider without idempotency
    # keys, so the customer may have received it twice.
    sa.Column("possible_duplicate", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    # Outbound written by a person (a human reply, an approved or edited review): who ("user:<id>",
    # "token:<id>"). NULL: the agent.
    sa.Column("author_id", sa.String(200)),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Column("updated_at", TS, nullable=False, server_default=_now()),
    sa.Index("ix_messages_conversation", "conversation_id", "id"),
    # The unanswered inbound messages, which a turn reads (``store.conversations``): a handful of
    # rows however long the conversation.
    sa.Index(
        "ix_messages_unanswered",
        "conversation_id",
        "id",
        sqlite_where=sa.text(UNANSWERED),
        postgresql_where=sa.text(UNANSWERED),
    ),
    _partial_unique(
        "uq_messages_inbound_provider_id", "channel_id", "provider_message_id", where="direction = 'in'"
    ),
    _partial_unique("uq_messages_idempotency", "idempotency_key", where="idempotency_key IS NOT NULL"),
    sa.Index("ix_messages_outbound_provider_id", "provider_message_id"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    # One job at a time per conversation. The column keeps the name it was created with ("lock");
    # renaming it would break processes of the previous release sharing the database.
    sa.Column("lock", sa.String(80), key="conversation_id", nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, default="conversation"),
    sa.Column("status", sa.String(10), nullable=False, default="queued"),  # queued | running | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("run_at", TS, nullable=False),
    sa.Column("locked_by", sa.String(80)),
    sa.Column("locked_until", TS),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    _partial_unique("uq_jobs_queued_lock", "conversation_id", where="status = 'queued'"),
    _partial_unique("uq_jobs_running_lock", "conversation_id", where="status = 'running'"),
    sa.Index("ix_jobs_status_run_at", "status", "run_at"),
)

knowledge = sa.Table(
    "knowledge",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    _tenant_fk(),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False, default=list),
    *_stamps(),
    sa.Index("ix_knowledge_tenant", "tenant_id"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.String(40), primary_key=True),
    sa.Column(
        "tenant_id", sa.String(64), sa.ForeignKey("tenants.tenant_id", ondelete="CASCADE")
    ),  # NULL: admin
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    # The rights the token keeps (security/roles.py): admin | agent. A token without a tenant is
    # the platform's: superuser, whatever this says.
    sa.Column("role", sa.String(16), nullable=False, default="admin", server_default="admin"),
    sa.Column("created_at", TS, nullable=False, server_default=_now()),
    sa.Column("last_used_at", TS),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),  # kept after the tenant is gone: no FK
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # create | update | delete
    sa.Column("object_type", sa.String(16), nullable=False),
    sa.Column("object_id", sa.String(128), nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    sa.Column("at", TS, nullable=False, server_default=_now()),
    sa.Index("ix_audit_tenant_at", "tenant_id", "at"),
)
