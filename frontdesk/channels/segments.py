"""SMS segments: how many parts a carrier bills for a text, GSM-7 or UCS-2 (3GPP TS 23.038).

A text that fits the GSM-7 alphabet costs septets (160 in one segment, 153 a part once concatenated,
two for a character of the extension table); any other text costs UTF-16 code units (70, then 67).
"""

from __future__ import annotations

from dataclasses import dataclass

# The default alphabet (less ESC) and its extension table, whose characters cost two septets.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM-7 alphabet or its extension table."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


@dataclass(frozen=True, slots=True)
class SegmentRules:
    """Units per segment: (alone, each part of a concatenated message), for GSM-7 and for UCS-2."""

    gsm7: tuple[int, int] = (160, 153)
    ucs2: tuple[int, int] = (70, 67)

    def count(self, text: str) -> int:
        """How many segments ``text`` costs."""
        if is_gsm7(text):
            units = [2 if ch in GSM_EXTENSION else 1 for ch in text]
            single, multi = self.gsm7
        else:
            units = [len(ch.encode("utf-16-le")) // 2 for ch in text]
            single, multi = self.ucs2
        total = sum(units)
        if total <= single:
            return 1 if total else 0
        return _packed_segments(units, multi)


def _packed_segments(units: list[int], per_segment: int) -> int:
    # An escape pair or a surrogate pair is never split across two segments, so a segment may
    # close one unit short of full; counting that way matches what carriers bill.
    segments, used = 1, 0
    for size in units:
        if used + size > per_segment:
            segments, used = segments + 1, 0
        used += size
    return segments


SMS = SegmentRules()


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` costs: GSM-7 160 / 153 septets, else UCS-2 70 / 67 code units."""
    return SMS.count(text)
