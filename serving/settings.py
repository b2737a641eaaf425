"""Service settings: the `serve` stage config, read from the environment (SAFERLHF_SERVE_<FIELD>).

`saferlhf serve` resolves YAML + flags into these variables, so every uvicorn worker builds the same object;
in a container set them directly. The API token is a secret and comes only from SAFERLHF_API_TOKEN."""

from __future__ import annotations

import hmac

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from saferlhf.config import ServeConfig
from saferlhf.serve.service import check_auth

ENV_PREFIX = "SAFERLHF_SERVE_"
TOKEN_ENV = "SAFERLHF_API_TOKEN"


class ServeSettings(ServeConfig, BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid",
                                      use_attribute_docstrings=True, populate_by_name=True)
    output_root: str = "outputs"
    """Root of outputs/: default model, prediction log and download cache live under it."""
    api_token: SecretStr | None = Field(None, validation_alias=AliasChoices(TOKEN_ENV, "api_token"))
    """Bearer token required on every path but the health probes (see `auth`)."""

    @model_validator(mode="after")
    def _auth_is_deliberate(self) -> ServeSettings:
        check_auth(self.host, None if self.api_token is None else self.api_token.get_secret_value(), self.auth)
        return self

    @property
    def token(self) -> str | None:
        """The token the server enforces (None: no auth)."""
        return self.api_token.get_secret_value() if self.auth and self.api_token is not None else None

    def service_config(self) -> ServeConfig:
        """The plain stage config (without the settings-only fields)."""
        return ServeConfig.model_validate(self.model_dump(include=set(ServeConfig.model_fields)))

    def bearer_ok(self, authorization: str | None) -> bool:
        """Whether an `Authorization` value (HTTP header or gRPC metadata) carries the token; True when auth is off."""
        token = self.token  # the one the server enforces (None when auth is off)
        if not token:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
