"""Wires everything in one place: which servers, the ledger, its services and projections.

Nothing connects at import time. With no URL configured, the embedded PostgreSQL and NATS
in the data folder are started on first use and keep running until ``karma down``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from adapters import embedded_nats, embedded_postgres, migrator
from adapters.event_store import Ledger
from adapters.gemma_host import LoraFile
from adapters.llm import LanguageModel
from adapters.token_store import TokenStore
from app.policies import load_policy
from app.settings import Settings
from domain.economy import EconomyPolicy
from handlers.service import LedgerService
from projections.registry import all_projections
from projections.runner import ProjectionRunner
from streams.relay import OutboxRelay
from streams.topology import Topology


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    nats_url: str
    embedded_database: bool
    embedded_nats: bool


def resolve_endpoints(settings: Settings) -> Endpoints:
    """The configured servers, or the embedded ones (started if they are not running)."""
    home = settings.home_path
    database_url = settings.database_url
    if database_url is None:
        database_url = embedded_postgres.start(home / "postgres").url
    nats_url = settings.nats_url
    if nats_url is None:
        nats_url = embedded_nats.start(home / "nats").url
    return Endpoints(
        database_url=database_url,
        nats_url=nats_url,
        embedded_database=settings.database_url is None,
        embedded_nats=settings.nats_url is None,
    )


def ledger_env(database_url: str, pool_size: int = 4) -> dict[str, str]:
    """eventsourcing's configuration for a PostgreSQL URL."""
    info = conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname", "postgres")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size * 2),
        # A rebuild keeps its transactions open for the whole replay; a session left idle
        # inside one this long is ended, and its locks freed.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
    }


def conninfo_to_url(conninfo: str) -> str:
    """A libpq key=value string as a postgresql:// URL (what KARMA_DATABASE_URL takes)."""
    info = conninfo_to_dict(conninfo)
    host = str(info.get("host", "127.0.0.1"))
    user = quote(str(info.get("user", "postgres")), safe="")
    password = f":{quote(str(info['password']), safe='')}" if info.get("password") else ""
    port = info.get("port", 5432)
    dbname = quote(str(info.get("dbname", "postgres")), safe="")
    if host.startswith("/"):
        return f"postgresql://{user}{password}@/{dbname}?host={host}&port={port}"
    return f"postgresql://{user}{password}@{host}:{port}/{dbname}"


def redact(url: str) -> str:
    """The URL without its password, fit for logs and status output."""
    info = conninfo_to_dict(url)
    if "password" not in info:
        return url
    return url.replace(str(info["password"]), "***")


class Container:
    """The application's parts, built lazily so a command pays only for what it uses."""

    def __init__(self, settings: Settings | None = None, endpoints: Endpoints | None = None):
        self.settings = settings or Settings()
        self._endpoints = endpoints

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            self._endpoints = resolve_endpoints(self.settings)
        return self._endpoints

    @cached_property
    def ledger(self) -> Ledger:
        ledger = Ledger(env=ledger_env(self.endpoints.database_url, self.settings.pool_size))
        with ledger.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            migrator.migrate(conn)
        return ledger

    def migrate(self) -> list[migrator.Migration]:
        """Apply pending migrations (the ledger applies them when first built, too)."""
        with self.datastore.get_connection() as conn:
            return migrator.migrate(conn)

    def schema_version(self) -> int:
        with self.datastore.get_connection() as conn:
            return migrator.current_version(conn)

    @property
    def datastore(self):  # eventsourcing's PostgresDatastore: one pool for everything
        return self.ledger.recorder.datastore  # type: ignore[attr-defined]

    @cached_property
    def policy(self) -> EconomyPolicy:
        return load_policy(self.settings.policy)

    @cached_property
    def service(self) -> LedgerService:
        return LedgerService(self.ledger, self.policy,
                             clock_skew=timedelta(seconds=self.settings.clock_skew_s))

    @cached_property
    def projections(self) -> ProjectionRunner:
        return ProjectionRunner(self.ledger, all_projections())

    @cached_property
    def topology(self) -> Topology:
        settings = self.settings
        return Topology(namespace=settings.nats_namespace, replicas=settings.nats_replicas,
                        duplicate_window_s=settings.duplicate_window_s,
                        task_max_deliver=settings.task_max_deliver,
                        task_ack_wait_s=settings.task_ack_wait_s)

    def relay(self) -> OutboxRelay:
        return OutboxRelay(self.ledger, self.endpoints.nats_url, self.topology)

    @cached_property
    def tokens(self) -> TokenStore:
        return TokenStore(self.datastore)

    def close(self) -> None:
        if "ledger" in self.__dict__:
            self.ledger.close()


def build_model(settings: Settings, lora: LoraFile | None = None) -> LanguageModel:
    """The model the settings name (KARMA_LLM), ready to call; ``lora``: an adapter on the
    local host (a learner's, seed 003), which only the local host can carry."""
    from adapters.llm import OpenAICompatibleModel, VllmModel

    if lora is not None and settings.llm != "gemma":
        raise ValueError(f"a LoRA adapter runs on the local host (KARMA_LLM=gemma), not on "
                         f"KARMA_LLM={settings.llm}")
    if settings.llm == "openai":
        return OpenAICompatibleModel(settings.openai_base_url, settings.openai_model,
                                     settings.openai_api_key.get_secret_value(),
                                     settings.llm_timeout_s, settings.llm_retries)
    if settings.llm == "vllm":
        return VllmModel(settings.vllm_model)
    from adapters.gemma_host import GemmaHost

    return GemmaHost(max_time_s=settings.llm_timeout_s * 2, lora=lora)
