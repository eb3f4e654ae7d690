"""The relay's configuration, from the same `ORDER_GRAPH_*` environment as the server."""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from order_graph.config import EMBEDDED_DATABASE_URL, Settings
from order_graph.relay.subjects import is_subject_token

_DAY = 24 * 60 * 60


class RelaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_GRAPH_", extra="ignore")

    database_url: str = EMBEDDED_DATABASE_URL
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = "ORDER_EVENTS"
    nats_subject_prefix: str = "orders"
    # Applied only when the relay creates the stream; an existing stream keeps its own limits.
    nats_retention_days: float = 7.0
    nats_max_bytes: int = -1
    nats_replicas: int = 1
    # JetStream drops a second message with the same Nats-Msg-Id inside this window.
    nats_duplicate_window_seconds: float = 120.0
    nats_timeout_seconds: float = 5.0
    relay_batch_size: int = 100
    # Messages published and not yet acknowledged by JetStream, at most (flow control).
    relay_publish_window: int = 256
    relay_poll_seconds: float = 0.5
    relay_standby_seconds: float = 2.0
    relay_backoff_initial_seconds: float = 0.5
    relay_backoff_max_seconds: float = 30.0
    relay_lag_log_seconds: float = 30.0
    # When set, the relay's lag is served for Prometheus at http://0.0.0.0:<port>/metrics.
    relay_metrics_port: int | None = None

    @classmethod
    def of(cls, settings: RelaySettings | Settings) -> RelaySettings:
        if isinstance(settings, RelaySettings):
            return settings
        return cls(database_url=settings.database_url)

    @property
    def max_age_seconds(self) -> float:
        return max(self.nats_retention_days, 0.0) * _DAY

    @field_validator("relay_publish_window")
    @classmethod
    def _window_holds_an_event(cls, value: int) -> int:
        if not 2 <= value <= 4000:  # an event's two messages; nats-py's own pending limit
            raise ValueError("relay_publish_window must be from 2 to 4000")
        return value

    @field_validator("nats_subject_prefix")
    @classmethod
    def _prefix_is_a_subject(cls, value: str) -> str:
        if not all(is_subject_token(token) for token in value.split(".")):
            raise ValueError("the subject prefix must be dot-separated tokens without wildcards")
        return value

    @field_validator("nats_stream")
    @classmethod
    def _stream_name_is_valid(cls, value: str) -> str:
        if not is_subject_token(value) or "/" in value or "\\" in value:
            raise ValueError("a stream name has no dots, wildcards, slashes or whitespace")
        return value

    @field_validator("relay_batch_size")
    @classmethod
    def _batch_fits_a_page(cls, value: int) -> int:
        # One batch is one `orderEvents` page, which allows at most 500.
        if not 1 <= value <= 500:
            raise ValueError("relay_batch_size must be from 1 to 500")
        return value
