"""Settings (environment variables prefixed ORDERFLOW_) and structured logging."""

import logging
import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import structlog
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WarehouseMode(StrEnum):
    AUTO = "auto"  # the built-in warehouse confirms pick lists by itself
    MANUAL = "manual"  # pick lists wait for POST /v1/pick-lists/{id}/confirm


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

    warehouse_mode: WarehouseMode = WarehouseMode.MANUAL
    auto_pick_delay_seconds: Annotated[float, Field(ge=0, le=3600)] = 2.0
    default_warehouse: Annotated[str, Field(min_length=1, max_length=32)] = "MAIN"
    default_currency: Annotated[str, Field(pattern="^[A-Z]{3}$")] = "CNY"
    carrier_name: str = "orderflow-post"

    log_format: Annotated[str, Field(pattern="^(auto|json|console)$")] = "auto"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _production_needs_real_database(self) -> "Settings":
        if self.environment == "production" and not self.database_url:
            raise ValueError("ORDERFLOW_DATABASE_URL must be set in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'orderflow.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def configure_logging(settings: Settings) -> None:
    """structlog everywhere: JSON when not on a terminal, readable lines when on one."""
    use_json = settings.log_format == "json" or (settings.log_format == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route stdlib logging (temporalio, uvicorn, sqlalchemy) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
