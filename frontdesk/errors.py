"""The one exception hierarchy of Frontdesk.

    FrontdeskError
     ├── ConfigError                 invalid configuration (422)
     │    └── ConflictError          unique rule broken: phone number, routing key, id (409)
     ├── NotFound                    object missing, or not visible to this tenant (404)
     ├── AuthError                   missing or bad credentials (401)
     ├── Forbidden                   authenticated, but not allowed (403)
     ├── RateLimited                 too many requests (429)
     ├── BadRequest                  malformed input (400)
     │    └── UnsupportedMediaType   a body of a content type the endpoint does not take (415)
     ├── InvalidSignature            a webhook that does not verify (401)
     └── DeliveryError               a provider refused or failed a send
          ├── RetryableDelivery      try again later (network, 5xx, 429)
          └── PermanentDelivery      never going to work as is (bad recipient, auth)

The API layer maps each class to its HTTP status in one place (``api/errors.py``).
"""

from __future__ import annotations

from typing import Any


class FrontdeskError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(FrontdeskError):
    status_code = 422
    code = "invalid_config"


class ConflictError(ConfigError):
    status_code = 409
    code = "conflict"


class NotFound(FrontdeskError):
    status_code = 404
    code = "not_found"


class AuthError(FrontdeskError):
    status_code = 401
    code = "unauthorized"


class Forbidden(FrontdeskError):
    status_code = 403
    code = "forbidden"


class RateLimited(FrontdeskError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 1.0, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class BadRequest(FrontdeskError):
    status_code = 400
    code = "bad_request"


class UnsupportedMediaType(BadRequest):
    status_code = 415
    code = "unsupported_media_type"


class InvalidSignature(FrontdeskError):
    status_code = 401
    code = "invalid_signature"


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
