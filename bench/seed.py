"""What the benchmark loads into a fresh database: one tenant, a web chat channel, an FAQ agent and
20 knowledge entries, as a ``frontdesk config import`` file.

Every answer is distinct, and the load generator sends the entries' own questions in rotation, so
each message has exactly one expected reply and consecutive messages of a conversation never share
an answer (the FAQ agent folds identical consecutive answers of one turn into one reply).
"""

from __future__ import annotations

from pathlib import Path

import yaml

TENANT = "bench"
CHANNEL = "bench-webchat"
AGENT = "bench-faq"

# (question, answer, tags)
KNOWLEDGE: list[tuple[str, str, list[str]]] = [
    ("What are your opening hours?", "We are open Tuesday to Sunday, 8:00 to 19:00.", ["hours", "open"]),
    ("Where is the shop located?", "You will find us at 4 Mill Lane, next to the station.", ["address"]),
    (
        "How much does a bike service cost?",
        "A standard service is 65 EUR; an overhaul is 140 EUR.",
        ["price"],
    ),
    ("Do you repair electric bikes?", "Yes, our mechanics are certified for e-bike motors.", ["ebike"]),
    ("Can I rent a bike for the weekend?", "Weekend rental is 45 EUR, or 80 EUR for an e-bike.", ["rental"]),
    ("How long does a puncture repair take?", "Most punctures are fixed while you wait.", ["flat", "tyre"]),
    ("Do you sell second-hand bicycles?", "We stock checked used bicycles with a warranty.", ["used"]),
    ("What payment methods do you accept?", "We take cards, contactless, cash and transfers.", ["pay"]),
    ("Is there parking near the shop?", "There is free 30-minute parking in front of the shop.", ["car"]),
    ("Do you offer bike fitting?", "A professional bike fit takes 90 minutes and costs 120 EUR.", ["fit"]),
    ("Can you deliver a bike to my home?", "We deliver within 15 km for 10 EUR.", ["delivery"]),
    ("Do you have gift vouchers?", "Gift vouchers from 20 EUR, valid for two years.", ["gift", "voucher"]),
    ("What is your return policy?", "Unused items can be returned within 30 days.", ["refund", "return"]),
    ("Do you sell children's bikes?", "We carry kids' bikes from balance bikes to 26-inch wheels.", ["kids"]),
    ("Can I book a repair appointment online?", "Book a workshop slot on our website.", ["booking"]),
    ("Do you offer a warranty on new bikes?", "New bikes come with a two-year warranty.", ["guarantee"]),
    ("Do you organise group rides?", "Our group ride leaves every Saturday at 9:00.", ["ride", "club"]),
    ("Do you buy old bikes?", "We give trade-in credit for your old bike against a new one.", ["trade-in"]),
    ("Can I finance a bike in instalments?", "Pay in 3, 6 or 12 monthly instalments at 0%.", ["finance"]),
    ("Do you sell helmets and locks?", "Helmets start at 39 EUR and we stock city-rated locks.", ["helmet"]),
]


def config_document() -> dict:
    return {
        "version": 1,
        "tenants": [{"tenant_id": TENANT, "name": "Bench Cycles", "timezone": "UTC"}],
        "agents": [{"agent_id": AGENT, "agent_name": "Bench FAQ", "tenant_id": TENANT, "kind": "faq"}],
        "channels": [
            {
                "channel_id": CHANNEL,
                "channel_name": "Bench web chat",
                "channel_type": "webchat",
                "provider": "webchat",
                "tenant_id": TENANT,
            }
        ],
        "mappings": [
            {
                "mapping_id": "bench-mapping",
                "agent_id": AGENT,
                "channel_id": CHANNEL,
                "tenant_id": TENANT,
                "is_primary": True,
            }
        ],
        "knowledge": [
            {"id": f"kb-{i:02d}", "tenant_id": TENANT, "question": q, "answer": a, "tags": tags}
            for i, (q, a, tags) in enumerate(KNOWLEDGE)
        ],
    }


def write_config(path: Path) -> Path:
    path.write_text(yaml.safe_dump(config_document(), sort_keys=False), encoding="utf-8")
    return path
