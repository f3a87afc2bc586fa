"""Settings (environment variables prefixed ORDERFLOW_) and structured logging.

One piece on purpose: `Settings` is one pydantic model, and its fields and the validators that check them
against each other belong together (docs/operations.md documents each field)."""

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

import telemetry
from domain.egress import EgressRule, parse_address, parse_networks
from domain.exceptions import ExceptionKind
from domain.money import to_minor
from domain.orders import Order
from domain.policy import Ladder, OrderPolicy, promised_ship_by
from domain.retention import PruneTable, RetentionPlan
from domain.returns import ReturnPolicy
from store.crypto import parse_keys

# The hard ceiling of lines per order in the request schema; `max_order_lines` sets the limit below it.
MAX_LINES_CEILING = 10_000
# Days each table keeps its rows unless ORDERFLOW_RETENTION_DAYS says otherwise; 0 keeps them forever.
# Events outlive their deliveries, so a delivery listed can still be redelivered.
RETENTION_DEFAULT_DAYS = {
    "webhook_deliveries": 30.0,
    "events": 45.0,
    "inbound_events": 90.0,
    "idempotency_records": 7.0,
    "imports": 90.0,
    "audit_log": 0.0,  # an audit log is kept until someone decides otherwise
}
# Values that are examples in documentation, compose files and tutorials, never real secrets.
DEFAULT_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "postgres", "orderflow", "temporal", "admin"}
    | {"test", "example", "default", "dev", "development"}
)


class WarehouseMode(StrEnum):
    AUTO = "auto"  # the built-in warehouse confirms pick lists by itself
    MANUAL = "manual"  # pick lists wait for POST /v1/pick-lists/{id}/confirm


# An external system's base URL; empty means the built-in one.
ExternalUrl = Annotated[str, Field(pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$")]
# Seconds for one whole call. The steps give an attempt 15 s (pick, invoice) or 30 s (ship), our own write included.
ExternalTimeout = Annotated[float, Field(gt=0, le=10)]
EXTERNAL_SYSTEMS = ("wms", "tms", "erp")


@dataclass(frozen=True)
class ExternalSystem:
    url: str
    token: str | None
    username: str | None
    password: str | None
    timeout_s: float
    connect_timeout_s: float


class ChannelPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    allow_split: bool | None = None
    allow_partial_shipment: bool | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_", extra="ignore")

    environment: Annotated[str, Field(pattern="^(development|production)$")] = "development"
    data_dir: Path = Path(".data")
    # Empty means the embedded default: a SQLite file under data_dir.
    database_url: str = ""
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "orders"

    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=1, le=65535)] = 8000
    temporal_ui_port: Annotated[int, Field(ge=1, le=65535)] = 8233
    # Where the console links an order's workflow; empty means http://<api_host>:<temporal_ui_port>.
    temporal_ui_url: str = ""
    # A console sign-in lasts this long, then asks for the key again (api/console/sessions.py).
    console_session_hours: Annotated[float, Field(gt=0, le=24 * 7)] = 8

    warehouse_mode: WarehouseMode = WarehouseMode.MANUAL
    auto_pick_delay_seconds: Annotated[float, Field(ge=0, le=3600)] = 2.0
    # Warehouses whose pick lists wait for POST /v1/pick-lists/{id}/confirm even in auto mode.
    manual_warehouses: list[str] = []
    default_warehouse: Annotated[str, Field(min_length=1, max_length=32)] = "MAIN"
    # The country (ISO 3166-1 alpha-2) the default warehouse is created in; change it later with PUT.
    default_warehouse_country: Annotated[str, Field(pattern="^[A-Z]{2}$")] = "CN"
    default_currency: Annotated[str, Field(pattern="^[A-Z]{3}$")] = "CNY"
    carrier_name: str = "orderflow-post"

    # External WMS, TMS and ERP (docs/integrations.md): an empty URL keeps the built-in warehouse, carrier
    # and invoice numbering. Credentials: a bearer token, or a username and password (basic).
    wms_url: ExternalUrl = ""
    wms_token: SecretStr | None = None
    wms_username: str = ""
    wms_password: SecretStr | None = None
    wms_timeout_s: ExternalTimeout = 5.0
    tms_url: ExternalUrl = ""
    tms_token: SecretStr | None = None
    tms_username: str = ""
    tms_password: SecretStr | None = None
    tms_timeout_s: ExternalTimeout = 5.0
    erp_url: ExternalUrl = ""
    erp_token: SecretStr | None = None
    erp_username: str = ""
    erp_password: SecretStr | None = None
    erp_timeout_s: ExternalTimeout = 5.0
    external_connect_timeout_s: ExternalTimeout = 3.0
    # Outbound requests (webhooks, WMS/TMS/ERP; docs/security.md): in production, loopback and private
    # networks are reachable only when named here (CIDR), e.g. ["10.20.0.0/16"]. Link-local and cloud
    # metadata addresses are never reachable.
    egress_allow: list[str] = []
    # Keys that encrypt webhook and partner secrets in the database (store/crypto.py): Fernet keys,
    # comma-separated, the first seals, all open. Required in production. `orderflow-secrets new-key`.
    secret_keys: SecretStr | None = None
    # Retention (docs/operations.md): days each table keeps its rows (0: forever), pruned by a Temporal
    # Schedule every `retention_every_minutes` (0: no schedule) in batches of `retention_batch_size`.
    # Tables left out keep their defaults. Audit rows are written to `audit_export_dir` before they go.
    retention_days: dict[str, Annotated[float, Field(ge=0)]] = {}
    retention_every_minutes: Annotated[float, Field(ge=0, le=7 * 24 * 60)] = 60
    retention_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 1000
    # After each batch the pruner rests this many times as long as the batch took, so it takes at most
    # 1 / (1 + ratio) of the database's time and the order path keeps the rest (docs/performance.md).
    retention_pause_ratio: Annotated[float, Field(ge=0, le=100)] = 9.0
    # Empty means data_dir/audit-export.
    audit_export_dir: str = ""
    # Shared state of all API processes (rate limits, key revocations): unset keeps it per process.
    redis_url: str = ""

    # Delivery promise and people's deadlines (a later issue moves these into business rules).
    sla_rush_hours: Annotated[float, Field(gt=0)] = 24
    sla_standard_hours: Annotated[float, Field(gt=0)] = 72
    sla_warning_hours: Annotated[float, Field(ge=0)] = 48
    pick_sla_minutes: Annotated[float, Field(gt=0)] = 240
    approval_sla_minutes: Annotated[float, Field(gt=0)] = 24 * 60
    escalation_remind_minutes: Annotated[float, Field(gt=0)] = 30
    escalation_manager_minutes: Annotated[float, Field(gt=0)] = 120
    # Per exception kind: [remind, manager] minutes, e.g. {"stock_shortage": [10, 60]}.
    escalation_overrides: dict[ExceptionKind, tuple[float, float]] = {}
    # Orders above these totals waited for approval, per currency, e.g. {"CNY": "50000.00"}. Read once, by
    # the migration that made it the default approval rule (docs/rules.md); edit that rule since.
    approval_thresholds: dict[str, str] = {"CNY": "50000.00", "USD": "10000.00", "EUR": "10000.00"}
    # How long an API process or worker keeps the compiled active rules before reading them again; a
    # rule activated through the same process applies at once.
    rules_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 2.0

    # Fulfilment: per-channel overrides of these defaults, e.g. {"b2b": {"allow_partial_shipment": true}}.
    allow_split: bool = True
    allow_partial_shipment: bool = False
    channel_policies: dict[str, ChannelPolicy] = {}
    backorder_window_hours: Annotated[float, Field(ge=0)] = 24
    # Compression of business time, for rehearsals (docs/rehearsal.md): every duration an order carries —
    # its promise and warning, pick and approval SLAs, escalation ladders, backorder and delivery windows, a
    # rule's promise or hold, a return's windows — is divided by this when the order's policy is fixed at
    # submission. The workflow reads only the policy, so its code paths are those of a real day. 1 in
    # production.
    time_scale: Annotated[float, Field(ge=1, le=10_000)] = 1.0
    # A completed order waits this long for the carrier to report delivery (docs/integrations.md).
    delivery_window_days: Annotated[float, Field(gt=0)] = 30
    # Returns (docs/api.md): asked for within this long of delivery (of shipping, when never reported
    # delivered); received within `return_receive_days` of the request or it expires; refunded within
    # `return_refund_sla_hours` of receipt or people are alerted. Auto-approval skips the handler's approval.
    return_window_days: Annotated[float, Field(gt=0)] = 30
    return_receive_days: Annotated[float, Field(gt=0)] = 14
    return_refund_sla_hours: Annotated[float, Field(gt=0)] = 48
    returns_auto_approve: bool = False

    # Business events (docs/integrations.md): the message bus when set, webhook retries, the outbox relay.
    nats_url: str = ""
    webhook_retry_hours: Annotated[float, Field(gt=0, le=24 * 7)] = 24
    relay_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 0.5
    relay_batch_size: Annotated[int, Field(ge=1, le=1000)] = 100
    # Whether this worker process runs the outbox relay beside it (`make run` runs it in the first only).
    relay: bool = True

    # Worker processes `make run` starts. A Python worker runs its workflows and steps on one core (the
    # GIL), so one per core; 0 means one per CPU core, at most four.
    worker_processes: Annotated[int, Field(ge=0, le=16)] = 0

    # Foresight (docs/foresight.md): the forecasting run, started by a Temporal Schedule every this many
    # minutes (0: no schedule); lead times in days, per SKU over per warehouse over the default.
    forecast_interval_minutes: Annotated[float, Field(ge=0, le=7 * 24 * 60)] = 60
    forecast_history_days: Annotated[int, Field(ge=28, le=3 * 365)] = 180
    forecast_horizon_days: Annotated[int, Field(ge=7, le=180)] = 28
    forecast_batch_skus: Annotated[int, Field(ge=10, le=20_000)] = 2000
    lead_time_days: Annotated[float, Field(ge=0, le=365)] = 7
    lead_time_days_by_warehouse: dict[str, Annotated[float, Field(ge=0, le=365)]] = {}
    lead_time_days_by_sku: dict[str, Annotated[float, Field(ge=0, le=365)]] = {}
    stockout_warning_hours: Annotated[float, Field(ge=0, le=24 * 30)] = 48
    stockout_alert_confidence: Annotated[float, Field(ge=0.5, lt=1)] = 0.9
    stockout_intermittent_confidence: Annotated[float, Field(gt=0, lt=1)] = 0.55
    replenishment_service_level: Annotated[float, Field(ge=0.5, lt=1)] = 0.95
    replenishment_cover_days: Annotated[float, Field(ge=0, le=365)] = 14

    log_format: Annotated[str, Field(pattern="^(auto|json|console)$")] = "auto"
    log_level: str = "INFO"

    # Input limits and throttling (docs/security.md). String lengths are fixed by the request schemas:
    # they match the database columns, so they are not settings.
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 2**20)] = 2**20
    max_order_lines: Annotated[int, Field(ge=1, le=MAX_LINES_CEILING)] = 500
    # Spreadsheet import (POST /v1/orders/import): 10,000 rows of CSV are about 2 MB.
    max_import_bytes: Annotated[int, Field(ge=1024, le=64 * 2**20)] = 8 * 2**20
    max_import_rows: Annotated[int, Field(ge=1, le=200_000)] = 20_000
    max_page_size: Annotated[int, Field(ge=1, le=1000)] = 200
    # Per API key and per API process: a token bucket refilled at this rate, holding `burst` requests.
    rate_limit_per_second: Annotated[float, Field(gt=0)] = 20
    rate_limit_burst: Annotated[int, Field(ge=1)] = 40
    idempotency_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 24
    # Per API process (docs/security.md): how long a verified key, and a product found active, are
    # believed without asking the database again. 0 asks on every request.
    api_key_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 5
    # GET /metrics (docs/operations.md): an admin key, or this token when set (for the scraper).
    metrics_token: SecretStr | None = None
    # Each worker process serves the Temporal SDK's metrics on the first free port from this one (0: off).
    worker_metrics_port: Annotated[int, Field(ge=0, le=65535)] = 0
    metrics_host: str = "127.0.0.1"
    catalog_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 5

    @model_validator(mode="after")
    def _production_needs_real_database(self) -> "Settings":
        if self.environment == "production" and not self.database_url:
            raise ValueError("ORDERFLOW_DATABASE_URL must be set in production")
        return self

    @model_validator(mode="after")
    def _production_has_no_default_secrets(self) -> "Settings":
        """Secrets are SecretStr fields (and the database password); in production none may be a placeholder."""
        if self.environment != "production":
            return self
        weak = [
            name
            for name, value in self
            if isinstance(value, SecretStr) and value.get_secret_value().strip().lower() in DEFAULT_SECRETS
        ]
        if self.database_url and _url_password(self.database_url) in DEFAULT_SECRETS - {""}:
            weak.append("database_url")
        if weak:
            fields = ", ".join(f"ORDERFLOW_{name.upper()}" for name in weak)
            raise ValueError(f"{fields}: a default or placeholder secret is not allowed in production")
        return self

    @model_validator(mode="after")
    def _external_credentials_are_whole(self) -> "Settings":
        for system in EXTERNAL_SYSTEMS:
            url, token, username, password = (
                getattr(self, f"{system}_{f}") for f in ("url", "token", "username", "password")
            )
            prefix = f"ORDERFLOW_{system.upper()}"
            if token is not None and username:
                raise ValueError(f"{prefix}_TOKEN and {prefix}_USERNAME: set one way to authenticate, not both")
            if bool(username) != (password is not None):
                raise ValueError(f"{prefix}_USERNAME and {prefix}_PASSWORD go together")
            if (
                self.environment == "production"
                and url.startswith("http://")
                and (token is not None or username)
                and urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1")
            ):
                raise ValueError(f"{prefix}_URL: credentials travel over https only in production")
        return self

    def external(self, system: str) -> ExternalSystem | None:
        """Where the external `system` ("wms", "tms" or "erp") answers; None for the built-in one."""
        if system not in EXTERNAL_SYSTEMS:
            raise ValueError(f"unknown external system {system!r}")
        url: str = getattr(self, f"{system}_url")
        if not url:
            return None
        token: SecretStr | None = getattr(self, f"{system}_token")
        password: SecretStr | None = getattr(self, f"{system}_password")
        return ExternalSystem(
            url=url,
            token=token.get_secret_value() if token else None,
            username=getattr(self, f"{system}_username") or None,
            password=password.get_secret_value() if password else None,
            timeout_s=getattr(self, f"{system}_timeout_s"),
            connect_timeout_s=self.external_connect_timeout_s,
        )

    @model_validator(mode="after")
    def _secret_keys_are_keys(self) -> "Settings":
        text = self.secret_keys.get_secret_value() if self.secret_keys else ""
        try:
            keys = parse_keys(text)
        except ValueError as err:
            raise ValueError(f"ORDERFLOW_SECRET_KEYS: {err}") from None
        if self.environment == "production" and not keys:
            raise ValueError("ORDERFLOW_SECRET_KEYS must be set in production: it encrypts secrets at rest")
        return self

    @model_validator(mode="after")
    def _retention_names_known_tables(self) -> "Settings":
        unknown = sorted(set(self.retention_days) - set(RETENTION_DEFAULT_DAYS))
        if unknown:
            known = ", ".join(RETENTION_DEFAULT_DAYS)
            raise ValueError(f"ORDERFLOW_RETENTION_DAYS: unknown table(s) {', '.join(unknown)}; known: {known}")
        return self

    def retention_plan(self) -> RetentionPlan:
        days = {**RETENTION_DEFAULT_DAYS, **self.retention_days}
        return RetentionPlan(
            [PruneTable(table, keep, self.retention_batch_size) for table, keep in days.items() if keep > 0]
        )

    @property
    def resolved_audit_export_dir(self) -> Path:
        return Path(self.audit_export_dir) if self.audit_export_dir else self.data_dir / "audit-export"

    @model_validator(mode="after")
    def _egress_is_allowed(self) -> "Settings":
        rule = self.egress_rule  # raises ValueError naming a bad network
        for system in EXTERNAL_SYSTEMS:
            url: str = getattr(self, f"{system}_url")
            address = parse_address(urlsplit(url).hostname or "") if url else None
            reason = rule.refusal(address) if address is not None else None
            if reason is not None:
                raise ValueError(f"ORDERFLOW_{system.upper()}_URL: {reason}")
        return self

    @property
    def egress_rule(self) -> EgressRule:
        try:
            networks = parse_networks(self.egress_allow)
        except ValueError as err:
            raise ValueError(f"ORDERFLOW_EGRESS_ALLOW: {err}") from None
        return EgressRule(production=self.environment == "production", allow=networks)

    @model_validator(mode="after")
    def _thresholds_are_money(self) -> "Settings":
        for currency, amount in self.approval_thresholds.items():
            to_minor(amount, currency)  # raises MoneyError (a ValueError) naming the problem
        return self

    def scaled(self, seconds: float) -> float:
        """A business duration as it runs under `time_scale`."""
        return seconds / self.time_scale

    def order_policy(self, order: Order, received_at: datetime) -> OrderPolicy:
        """The promises an order carries, fixed when it is submitted."""
        channel = self.channel_policies.get(order.channel, ChannelPolicy())
        rush_hours, standard_hours = self.promise_hours()
        return OrderPolicy(
            ship_by=promised_ship_by(received_at, order.priority, order.ship_by, rush_hours, standard_hours),
            warn_before_s=self.scaled(self.sla_warning_hours * 3600),
            pick_sla_s=self.scaled(self.pick_sla_minutes * 60),
            approval_sla_s=self.scaled(self.approval_sla_minutes * 60),
            default_ladder=Ladder(
                self.scaled(self.escalation_remind_minutes * 60), self.scaled(self.escalation_manager_minutes * 60)
            ),
            ladders={
                kind.value: Ladder(self.scaled(r * 60), self.scaled(m * 60))
                for kind, (r, m) in self.escalation_overrides.items()
            },
            allow_split=self.allow_split if channel.allow_split is None else channel.allow_split,
            allow_partial=self.allow_partial_shipment
            if channel.allow_partial_shipment is None
            else channel.allow_partial_shipment,
            backorder_window_s=self.scaled(self.backorder_window_hours * 3600),
            delivery_window_s=self.scaled(self.delivery_window_days * 86400),
            local_steps=True,  # every new order; see OrderPolicy.local_steps
        )

    def promise_hours(self) -> tuple[float, float]:
        """(rush, standard) hours of the default ship-by promise, as they run under `time_scale`."""
        return self.sla_rush_hours / self.time_scale, self.sla_standard_hours / self.time_scale

    def return_policy(self) -> ReturnPolicy:
        return ReturnPolicy(
            receive_within_s=self.scaled(self.return_receive_days * 86400),
            refund_sla_s=self.scaled(self.return_refund_sla_hours * 3600),
            auto_approve=self.returns_auto_approve,
            carrier=self.carrier_name,
        )

    def worker_count(self) -> int:
        return self.worker_processes or min(os.cpu_count() or 1, 4)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'orderflow.db').resolve()}"


def _url_password(url: str) -> str:
    try:
        return make_url(url).password or ""
    except ArgumentError:
        return ""


@lru_cache
def get_settings() -> Settings:
    return Settings()


# What a log line must never carry: API keys (`of_...`), bearer tokens, passwords in URLs, and the
# values of fields whose names say they are secret.
_SECRET_TEXT = re.compile(r"of_[A-Za-z0-9_-]{20,}|(?<=Bearer )[^\s'\"]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^/@\s:]*:)[^/@\s]+@")
_SECRET_NAMES = re.compile(r"authorization|secret|password|passwd|token|api_?key|^key$", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}@", _SECRET_TEXT.sub(REDACTED, value))
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _SECRET_NAMES.search(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence, for secrets that reached a log call anyway."""
    return {k: REDACTED if _SECRET_NAMES.search(k) else redact(v) for k, v in event.items()}


def configure_logging(settings: Settings) -> None:
    """structlog everywhere: JSON when not on a terminal, readable lines when on one."""
    use_json = settings.log_format == "json" or (settings.log_format == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        telemetry.add_trace_id,
    ]
    last: list[Any] = [structlog.processors.format_exc_info, redact_secrets]
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, *last, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route stdlib logging (temporalio, uvicorn, sqlalchemy) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
