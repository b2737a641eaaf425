"""Serving without auth must be deliberate: empty tokens, non-loopback binds without a token, contradictions."""

from __future__ import annotations

import pytest

from saferlhf.errors import UserError
from saferlhf.serve.service import check_auth


@pytest.mark.parametrize("host, token, auth, match", [
    ("127.0.0.1", "", True, "empty"),
    ("0.0.0.0", "  ", True, "empty"),
    ("0.0.0.0", None, True, "--no-auth"),
    ("10.1.2.3", None, True, "not loopback"),
    ("0.0.0.0", "s3cret", False, "together"),
])
def test_accidental_exposure_is_refused(host, token, auth, match):
    with pytest.raises(UserError, match=match):
        check_auth(host, token, auth)


@pytest.mark.parametrize("host, token, auth", [
    ("127.0.0.1", None, True),  # local development: loopback only
    ("::1", None, True),
    ("0.0.0.0", "s3cret", True),
    ("0.0.0.0", None, False),  # --no-auth: on purpose, with a warning
])
def test_deliberate_settings_pass(host, token, auth):
    check_auth(host, token, auth)


def test_settings_enforce_the_token_only_when_auth_is_on(monkeypatch):
    from serving.settings import ServeSettings

    monkeypatch.setenv("SAFERLHF_API_TOKEN", "s3cret")
    assert ServeSettings(host="0.0.0.0").token == "s3cret"
    monkeypatch.setenv("SAFERLHF_API_TOKEN", "")
    with pytest.raises(UserError, match="empty"):
        ServeSettings()
    monkeypatch.delenv("SAFERLHF_API_TOKEN")
    assert ServeSettings(host="0.0.0.0", auth=False).token is None
