"""The UI guard: with `SHOWCASE_API_KEY` and `SHOWCASE_API_KEY_UI=true`, the Gradio UI asks for the key."""

from __future__ import annotations

from collections.abc import Callable

from apps.core.auth import authorized
from apps.core.settings import Settings


def ui_auth(settings: Settings) -> Callable[[str, str], bool] | None:
    """Gradio's `auth=` check (any user name, the API key as password), or None when the UI stays open."""
    if not settings.api_key_ui or settings.api_key is None or not settings.api_key.get_secret_value():
        return None

    def check(username: str, password: str) -> bool:
        # The same constant-time check as /v1, so the two cannot disagree about what the key is.
        return authorized(settings, f"Bearer {password}")

    return check
