"""The API-key check shared by /v1 and /metrics (pure: no app, no model)."""

from __future__ import annotations

import pytest

from apps.core.auth import api_key, authorized, bearer_token
from apps.core.settings import Settings


def test_no_key_means_open() -> None:
    settings = Settings()
    assert api_key(settings) is None
    assert authorized(settings, None) and authorized(settings, "Bearer anything")


def test_empty_key_means_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOWCASE_API_KEY", "")
    assert authorized(Settings(), None)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret", True),
        ("bearer s3cret", True),
        ("Bearer  s3cret ", True),
        ("Bearer s3cre", False),
        ("Bearer s3cret2", False),
        ("Basic s3cret", False),
        ("s3cret", False),
        ("Bearer", False),
        ("", False),
        (None, False),
    ],
)
def test_key_is_checked(monkeypatch: pytest.MonkeyPatch, header: str | None, ok: bool) -> None:
    monkeypatch.setenv("SHOWCASE_API_KEY", "s3cret")
    settings = Settings()
    assert api_key(settings) == "s3cret"
    assert authorized(settings, header) is ok


def test_key_is_not_shown() -> None:
    settings = Settings(api_key="s3cret")
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("Token abc") is None
