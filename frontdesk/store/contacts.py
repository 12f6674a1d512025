"""Who wrote: the contact an inbound message belongs to, found or created by the identities it names.

A contact has an identity for each address a provider reaches them at: a phone number, a chat id,
an e-mail address (scope "", the same customer on every channel of the tenant), and on WhatsApp a
business-scoped user id, valid only within the business portfolio behind the channel (its scope,
``model.bsuid.scope_of``). A message naming several (number and BSUID) links them to one contact,
so a later message naming only the BSUID continues the same conversation; a WhatsApp ``system``
message re-points the identity it names to the customer's new number or id.

Runs inside the transaction that stores the message (``store.inbound``), on the path of a message
whose conversation is not cached.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import Connection

from frontdesk.model.bsuid import is_bsuid, is_parent, scope_of
from frontdesk.model.ids import new_id
from frontdesk.model.messages import InboundMessage
from frontdesk.model.phone import is_e164
from frontdesk.model.routing import ChannelInfo
from frontdesk.store.db import utcnow
from frontdesk.store.dialect import insert_for
from frontdesk.store.prepared import Prepared
from frontdesk.store.tables import contact_identities, contacts, length_of

log = structlog.get_logger(__name__)
# What the store keeps of a name a customer shows (the caller cuts a longer one, never refuses it).
DISPLAY_NAME_LENGTH = length_of(contacts.c.display_name)
ident = contact_identities.c


def _owners_statement(n: int) -> Prepared:
    """The owners of ``n`` identities in one statement: an OR of exact matches, each of them a
    lookup in the unique index (SQLite plans a row-value IN as a scan of the tenant's range)."""
    match = [
        sa.and_(
            ident.tenant_id == sa.bindparam("tenant_id"),
            ident.provider == sa.bindparam("provider"),
            ident.scope == sa.bindparam(f"scope_{i}"),
            ident.address == sa.bindparam(f"address_{i}"),
        )
        for i in range(n)
    ]
    keys = ["tenant_id", "provider", *(f"{k}_{i}" for i in range(n) for k in ("scope", "address"))]
    return Prepared(sa.select(ident.scope, ident.address, ident.contact_id).where(sa.or_(*match)), keys)


# The statements of a first message, prebuilt (``store.prepared``): a campaign brings thousands.
# A message names one to three identities (``named``).
_OWNERS = {n: _owners_statement(n) for n in (1, 2, 3)}
_BY_PHONE = Prepared(
    sa.select(contacts.c.contact_id)
    .where(contacts.c.tenant_id == sa.bindparam("tenant_id"), contacts.c.phone_e164 == sa.bindparam("phone"))
    .limit(1),
    ["tenant_id", "phone"],
)
_INSERT_CONTACT = Prepared(
    contacts.insert(),
    ["contact_id", "tenant_id", "display_name", "phone_e164", "handle", "created_at", "updated_at"],
)


def _link_statement(n: int) -> Prepared:
    """``n`` identities linked to one contact in one statement; RETURNING names those inserted
    (one already linked, by another ingest meanwhile, is left as it is)."""
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": sa.bindparam("tenant_id"),
            "contact_id": sa.bindparam("contact_id"),
            "provider": sa.bindparam("provider"),
            "created_at": sa.bindparam("created_at", type_=ident.created_at.type),
            "scope": sa.bindparam(f"scope_{i}"),
            "address": sa.bindparam(f"address_{i}"),
        }
        for i in range(n)
    ]
    keys = ["tenant_id", "contact_id", "provider", "created_at"]
    keys += [f"{k}_{i}" for i in range(n) for k in ("scope", "address")]
    return Prepared(
        lambda dialect: (
            insert_for(dialect, contact_identities)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["tenant_id", "provider", "scope", "address"])
            .returning(ident.scope, ident.address)
        ),
        keys,
    )


_LINK = {n: _link_statement(n) for n in (1, 2, 3)}


@dataclass(frozen=True, slots=True)
class Address:
    scope: str
    address: str


def scoped(channel: ChannelInfo, address: str) -> Address:
    """``address`` as an identity of ``channel``'s customers: BSUIDs within its portfolio."""
    return Address(scope_of(channel.channel_id, channel.settings) if is_bsuid(address) else "", address)


def named(channel: ChannelInfo, msg: InboundMessage) -> list[Address]:
    """The identities ``msg`` names, the one that decides the contact first: the BSUID (WhatsApp's
    lasting key for the customer), then the sender's own address, then the parent BSUID."""
    values = [msg.bsuid, msg.sender, msg.parent_bsuid]
    ordered = sorted(
        dict.fromkeys(v for v in values if v), key=lambda v: 2 if is_parent(v) else 0 if is_bsuid(v) else 1
    )
    return [scoped(channel, value) for value in ordered]


def contact_for(conn: Connection, channel: ChannelInfo, msg: InboundMessage) -> str:
    """The contact ``msg`` is from, created if new, with every identity it names linked to it."""
    wanted = named(channel, msg)
    found = _owners(conn, channel, wanted)
    contact_id = _pick(wanted, found)
    phone = msg.sender if is_e164(msg.sender) else None
    if contact_id is None and phone:  # identities with the same E.164 number are one contact
        contact_id = _BY_PHONE.scalar(conn, {"tenant_id": channel.tenant_id, "phone": phone})
    now = utcnow()
    if contact_id is None:
        contact_id = new_id("ct")
        _INSERT_CONTACT.execute(
            conn,
            {
                "contact_id": contact_id,
                "tenant_id": channel.tenant_id,
                "display_name": msg.sender_name,
                "phone_e164": phone,
                "handle": msg.username,
                "created_at": now,
                "updated_at": now,
            },
        )
    else:
        _complete(conn, contact_id, msg, phone)
    if missing := [a for a in wanted if a not in found]:
        params = {
            "tenant_id": channel.tenant_id,
            "contact_id": contact_id,
            "provider": channel.provider,
            "created_at": now,
        }
        for i, a in enumerate(missing):
            params[f"scope_{i}"], params[f"address_{i}"] = a.scope, a.address
        linked = {Address(scope, address) for scope, address in _LINK[len(missing)].all(conn, params)}
        found.update(dict.fromkeys(linked, contact_id))
        if taken := [a for a in missing if a not in linked]:  # another ingest linked them first: theirs stand
            found.update(_owners(conn, channel, taken))
    if len(set(found.values())) > 1:
        # Merging two contacts' histories is a person's decision; the message goes to the first.
        log.warning(
            "one customer's identities belong to several contacts; not merged",
            channel_id=channel.channel_id,
            contact_ids=sorted(set(found.values())),
        )
    picked = _pick(wanted, found)
    if picked is None:
        raise RuntimeError("contact identity vanished while it was being linked")
    return picked


def apply_change(conn: Connection, channel: ChannelInfo, msg: InboundMessage) -> InboundMessage:
    """Re-point the identities a ``system`` message says changed; the message as it names the
    customer now (their new number and id), for ``contact_for`` to find the same contact by."""
    change = msg.identity_change
    if change is None:
        return msg
    for old, new in ((change.previous_phone, change.phone), (change.previous_bsuid, change.bsuid)):
        if old and new and old != new:
            _repoint(conn, channel, scoped(channel, old), new)
    sender = msg.sender
    if change.phone and sender in (change.previous_phone, change.previous_bsuid, change.bsuid, ""):
        sender = change.phone
    elif change.bsuid and sender == change.previous_bsuid:
        sender = change.bsuid
    renamed = replace(
        msg,
        sender=sender,
        bsuid=change.bsuid or msg.bsuid,
        parent_bsuid=change.parent_bsuid or msg.parent_bsuid,
    )
    return renamed


def record_new_phone(conn: Connection, contact_id: str, msg: InboundMessage) -> None:
    """The contact's number is the new one a ``user_changed_number`` message gave."""
    change = msg.identity_change
    if change is not None and change.phone:
        conn.execute(
            contacts.update()
            .where(contacts.c.contact_id == contact_id)
            .values(phone_e164=change.phone, updated_at=utcnow())
        )


def _repoint(conn: Connection, channel: ChannelInfo, old: Address, new: str) -> None:
    taken = contact_identities.alias("taken")
    conn.execute(
        contact_identities.update()
        .where(
            ident.tenant_id == channel.tenant_id,
            ident.provider == channel.provider,
            ident.scope == old.scope,
            ident.address == old.address,
            ~sa.exists().where(
                taken.c.tenant_id == channel.tenant_id,
                taken.c.provider == channel.provider,
                taken.c.scope == old.scope,
                taken.c.address == new,
            ),
        )
        .values(address=new)
    )


def _owners(conn: Connection, channel: ChannelInfo, wanted: list[Address]) -> dict[Address, str]:
    """The contact each of ``wanted`` belongs to, if any."""
    if not wanted:
        return {}
    params = {"tenant_id": channel.tenant_id, "provider": channel.provider}
    for i, a in enumerate(wanted):
        params[f"scope_{i}"], params[f"address_{i}"] = a.scope, a.address
    rows = _OWNERS[len(wanted)].all(conn, params)
    return {Address(scope, address): owner for scope, address, owner in rows}


def _pick(wanted: list[Address], found: dict[Address, str]) -> str | None:
    return next((found[a] for a in wanted if a in found), None)


def _complete(conn: Connection, contact_id: str, msg: InboundMessage, phone: str | None) -> None:
    """Fill in what the contact lacks (number, name) and keep the handle current, in one write
    that happens only when something changes."""
    contact = contacts.c
    changes = []
    if msg.username:
        changes.append(contact.handle.is_distinct_from(msg.username))
    if phone:
        changes.append(contact.phone_e164.is_(None))
    if msg.sender_name:
        changes.append(contact.display_name.is_(None))
    if not changes:
        return
    conn.execute(
        contacts.update()
        .where(contact.contact_id == contact_id, sa.or_(*changes))
        .values(
            handle=msg.username or contact.handle,
            phone_e164=sa.func.coalesce(contact.phone_e164, phone),
            display_name=sa.func.coalesce(contact.display_name, msg.sender_name),
            updated_at=utcnow(),
        )
    )
