"""What may be sent to a customer known only by a business-scoped user id (``model.bsuid``).

Meta delivers text, media, interactive messages and templates to a BSUID (in the Cloud API's
``recipient`` field, in Twilio's ``To`` as ``whatsapp:US.1349…``), except authentication
templates (one-tap, zero-tap, copy-code), which need a phone number (Graph error 131062). Only
WhatsApp knows BSUIDs: an SMS cannot reach one. A template spec says it is an authentication
template with ``"category": "authentication"``.
"""

from __future__ import annotations

from typing import Any

from frontdesk.errors import PermanentDelivery

NOT_TO_BSUID = "131062"  # Meta: "Business-scoped User ID recipients are not supported for this message"


def require_phone_for(template: Any) -> None:
    """Refuse ``template`` (a template spec) when WhatsApp sends it to phone numbers only."""
    category = template.get("category") if isinstance(template, dict) else None
    if isinstance(category, str) and category.lower() == "authentication":
        raise PermanentDelivery(
            "WhatsApp authentication templates need the customer's phone number, and this customer "
            "is known only by their business-scoped user id (they use a WhatsApp username)",
            provider_code=NOT_TO_BSUID,
        )


def require_whatsapp(channel_type: str) -> None:
    """Refuse a send to a BSUID on a channel that is not WhatsApp."""
    if channel_type != "whatsapp":
        raise PermanentDelivery(
            f"this customer is known only by a WhatsApp business-scoped user id, which a "
            f"{channel_type} channel cannot reach",
            provider_code=NOT_TO_BSUID,
        )
