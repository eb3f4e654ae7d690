"""Configuration from `ORDER_GRAPH_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_DATABASE_URL = "sqlite+aiosqlite:///./order-graph.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_GRAPH_", extra="ignore")

    database_url: str = EMBEDDED_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    env: str = "development"
    db_pool_size: int = 20
    db_connect_timeout: float = 2.0
    db_pool_timeout: float = 2.0
    db_statement_timeout: float = 5.0
    graphiql: bool = True
    introspection: bool = True
    idempotency_ttl_hours: int = 48
    event_retention_days: int = 30
    legacy_graphql_ws: bool = True
    auth: Literal["required", "off"] = "required"
    auth_cache_seconds: float = 5.0
    ws_init_timeout: float = 5.0
    ws_max_subscriptions: int = 20
    ws_max_connections_per_client: int = 100
    ws_compression: bool = False
    # Comma-separated origins of web pages on other sites that may call /graphql (CORS and
    # the websocket origin check); none by default. `*` allows every origin.
    allowed_origins: str = ""
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_cost: int = 50_000
    max_body_bytes: int = 1_000_000
    max_document_bytes: int = 32_768
    header_timeout: float = 10.0
    body_timeout: float = 15.0
    metrics_token: str | None = None
    shutdown_grace: float = 20.0
    otel_endpoint: str | None = None
    compiled_queries: bool = True
    # Lifecycle deadlines: `serve` runs a runner unless `deadline_runner` is false.
    deadline_runner: bool = True
    deadline_poll_seconds: float = 1.0
    deadline_batch_size: int = 100
    deadline_concurrency: int = 4
    deadline_metrics_port: int | None = None  # `order-graph deadlines` only

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.env == "production"
