"""What the app reads from its environment: the web tier injects these (secrets and plain)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    api_client_id: str
    api_client_secret: str = field(repr=False)
    api_token_url: str
    api_scopes: str
    api_base_url: str
    """``https://<api>.execute-api.<region>.amazonaws.com/v1/`` (trailing slash optional)."""
    session_table: str
    health_path: str = "/healthz"
    session_ttl_seconds: int = 8 * 3600
    app_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    dynamodb_endpoint_url: str | None = None
    """Only for ``make local`` (moto's server); AWS otherwise."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        missing = [
            name
            for name in (
                "API_CLIENT_ID",
                "API_CLIENT_SECRET",
                "API_TOKEN_URL",
                "API_SCOPES",
                "API_BASE_URL",
                "SESSION_TABLE",
            )
            if not environ.get(name)
        ]
        if missing:
            raise RuntimeError(f"missing settings: {', '.join(missing)}")
        app_secrets = json.loads(environ.get("APP_SECRETS") or "{}")
        return cls(
            api_client_id=environ["API_CLIENT_ID"],
            api_client_secret=environ["API_CLIENT_SECRET"],
            api_token_url=environ["API_TOKEN_URL"],
            api_scopes=environ["API_SCOPES"],
            api_base_url=environ["API_BASE_URL"].rstrip("/"),
            session_table=environ["SESSION_TABLE"],
            health_path=environ.get("HEALTH_PATH", "/healthz"),
            app_secrets=app_secrets if isinstance(app_secrets, dict) else {},
            dynamodb_endpoint_url=environ.get("DYNAMODB_ENDPOINT_URL") or None,
        )
