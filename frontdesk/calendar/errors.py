"""The calendar's refusals, as branches of the one hierarchy in ``frontdesk/errors.py``.

    FrontdeskError
     ├── BookingRefused         the rules say no: past, closed, outside hours, cancelled (409)
     │    └── FullyBooked       no seat left at that time (409)
     └── SyncFailed             the connected calendar failed; the booking stands, sync retries (502)

Their messages are written for the customer: the agent tools hand them to the model as they are.
"""

from __future__ import annotations

from frontdesk.errors import FrontdeskError


class BookingRefused(FrontdeskError):
    status_code = 409
    code = "booking_refused"


class FullyBooked(BookingRefused):
    code = "fully_booked"


class SyncFailed(FrontdeskError):
    status_code = 502
    code = "calendar_sync_failed"
