"""The one exception hierarchy of Frontdesk.

    FrontdeskError
     ├── ConfigError                 invalid configuration
     │    ├── ConflictError          unique rule broken: phone number, routing key, id
     │    └── PatternError           a tenant's regular expression RE2 will not run (also a ValueError)
     ├── NotFound                    object missing, or not visible to this tenant
     ├── AuthError                   missing or bad credentials
     ├── Forbidden                   authenticated, but not allowed
     ├── RateLimited                 too many requests
     ├── BadRequest                  malformed input
     │    └── UnsupportedMediaType   a body of a content type the endpoint does not take
     ├── InvalidSignature            a webhook that does not verify
     ├── DeliveryError               a provider refused or failed a send
     │    ├── RetryableDelivery      try again later (network, 5xx, 429)
     │    └── PermanentDelivery      never going to work as is (bad recipient, auth)
     ├── OutboundError               a call to a tenant-chosen address failed or its answer was refused
     │    ├── BlockedDestination     the destination is not allowed (private network, metadata service)
     │    └── OutboundTimeout        no complete answer in time
     ├── BookingRefused              the calendar's rules say no: past, closed, outside hours, cancelled
     │    └── FullyBooked            no seat left at that time
     ├── SyncFailed                  the connected calendar failed; the booking stands, sync retries
     ├── ToolError                   a tool refused its arguments or its work; the message is for the model
     ├── ToolCrashed                 a tool raised or ran past its timeout: the turn falls back to a person
     ├── LoopError                   the LLM agent's tool loop produced no usable answer
     ├── LlmFailed                   the router model's classification could not be used
     ├── BadAnswer                   a remote agent answered, but not in the contract's shape
     └── Superseded                  another run of the conversation answered its messages first

Messages are written for whoever reads them next (the API client, the model, the person taking
over, the customer for the calendar's refusals). ``code`` names the error in the API's body.
The HTTP status of each class lives in one place, ``frontdesk/api/errors.py``: errors here know
nothing of HTTP.
"""

from __future__ import annotations

from typing import Any


class FrontdeskError(Exception):
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(FrontdeskError):
    code = "invalid_config"


class ConflictError(ConfigError):
    code = "conflict"


class PatternError(ConfigError, ValueError):
    """A tenant's pattern RE2 will not run; the message says why."""


class NotFound(FrontdeskError):
    code = "not_found"


class AuthError(FrontdeskError):
    code = "unauthorized"


class Forbidden(FrontdeskError):
    code = "forbidden"


class RateLimited(FrontdeskError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 1.0, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class BadRequest(FrontdeskError):
    code = "bad_request"


class UnsupportedMediaType(BadRequest):
    code = "unsupported_media_type"


class InvalidSignature(FrontdeskError):
    code = "invalid_signature"


# -- sending through a provider -------------------------------------------------------------------


class DeliveryError(FrontdeskError):
    code = "delivery_failed"

    def __init__(self, message: str, *, provider_code: str | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.provider_code = provider_code


class RetryableDelivery(DeliveryError):
    def __init__(
        self, message: str, *, provider_code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, provider_code=provider_code)
        self.retry_after = retry_after


class PermanentDelivery(DeliveryError):
    def __init__(
        self, message: str, *, provider_code: str | None = None, needs_attention: bool = False
    ) -> None:
        super().__init__(message, provider_code=provider_code)
        self.needs_attention = needs_attention


# -- calls to addresses a tenant chose (security/ssrf.py) -----------------------------------------


class OutboundError(FrontdeskError):
    code = "outbound_failed"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class BlockedDestination(OutboundError):
    code = "blocked_destination"


class OutboundTimeout(OutboundError):
    code = "outbound_timeout"

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


# -- the calendar: messages written for the customer, the agent tools hand them on as they are ----


class BookingRefused(FrontdeskError):
    code = "booking_refused"


class FullyBooked(BookingRefused):
    code = "fully_booked"


class SyncFailed(FrontdeskError):
    code = "calendar_sync_failed"


# -- agents ---------------------------------------------------------------------------------------


class ToolError(FrontdeskError):
    """A tool refused its arguments or could not do its work; the message is for the model."""


class ToolCrashed(FrontdeskError):
    """A tool failed (raised, or ran past its timeout): the turn falls back to a person."""

    def __init__(self, tool: str, error: str) -> None:
        super().__init__(f"tool {tool} failed: {error}")
        self.tool = tool


class LoopError(FrontdeskError):
    """The loop could not produce an answer; the message says why, for the person taking over."""


class LlmFailed(FrontdeskError):
    """The model's classification could not be used; the message says why."""


class BadAnswer(FrontdeskError):
    """The endpoint answered, but not with the contract's shape."""


# -- the pipeline ---------------------------------------------------------------------------------


class Superseded(FrontdeskError):
    """Another run of this conversation answered these messages first (its lease had expired)."""

    def __init__(self, message: str = "another run answered these messages first") -> None:
        super().__init__(message)
