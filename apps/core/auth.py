"""The optional API key (`SHOWCASE_API_KEY`): one check that `/v1`, `/metrics` and (opt-in) the UI share."""

from __future__ import annotations

import hmac

from apps.core.settings import Settings


def api_key(settings: Settings) -> str | None:
    """The configured key, or None when the API is open."""
    value = settings.api_key.get_secret_value() if settings.api_key is not None else ""
    return value or None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (case-insensitive scheme), else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authorized(settings: Settings, authorization: str | None) -> bool:
    """Whether a request with this `Authorization` header may use a guarded route.

    True when no key is set. The comparison is constant-time (`hmac.compare_digest`), so response times
    do not leak how much of a guessed key was right.
    """
    key = api_key(settings)
    if key is None:
        return True
    token = bearer_token(authorization)
    return token is not None and hmac.compare_digest(token.encode(), key.encode())
