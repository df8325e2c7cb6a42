"""Configuration from the environment (KARMA_*), with embedded defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KARMA_", extra="ignore")

    home: Path = Field(
        default=Path(".karma"),
        description="Data folder of the embedded servers and local state.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; when unset an embedded server in the data folder is used.",
    )
    nats_url: str | None = Field(
        default=None,
        description="NATS URL (JetStream enabled); when unset an embedded server is used.",
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Where clients reach the API (e.g. behind a proxy); the Agent Cards' "
        "address. When unset, http://api_host:api_port.")
    max_body_bytes: int = Field(
        default=256 * 1024, description="Largest HTTP request body accepted, in bytes."
    )
    max_payload_bytes: int = Field(
        default=64 * 1024, description="Largest task payload or artifact, as JSON, in bytes."
    )
    pool_size: int = 4
    clock_skew_s: float = Field(
        default=5.0, ge=0, le=300,
        description="How far past the server's clock an instant a command carries (a decay's "
        "as_of) may lie; later ones are refused.")
    decay_interval_s: float = Field(
        default=86400.0, ge=0, description="How often `karma serve` decays karma (0: never).")
    policy: Path | None = Field(
        default=None, description="Economy policy (TOML); the shipped default when unset.")
    nats_namespace: str = Field(
        default="", pattern=r"^[a-z0-9_]{0,32}$",
        description="Prefix of stream names and subjects, to share a NATS server.")
    nats_replicas: int = Field(default=1, ge=1, le=5,
                               description="JetStream replicas (3 on a cluster).")
    duplicate_window_s: float = Field(default=120.0, gt=0)
    task_max_deliver: int = Field(default=5, ge=1)
    task_ack_wait_s: float = Field(default=30.0, gt=0)
    llm: Literal["gemma", "openai", "vllm"] = Field(
        default="gemma", description="Which model the agents use: the local Gemma 3 270M "
        "host on the CPU, any OpenAI-compatible endpoint, or vLLM in this process (GPU).")
    openai_base_url: str = Field(default="https://api.openai.com/v1",
                                 description="Base URL of the OpenAI-compatible endpoint.")
    openai_api_key: SecretStr = Field(default=SecretStr(""),
                                      description="Its key (never logged nor recorded).")
    openai_model: str = "gpt-4o-mini"
    vllm_model: str = "google/gemma-3-270m"
    llm_timeout_s: float = Field(default=30.0, gt=0, description="Per model call.")
    llm_retries: int = Field(default=2, ge=0, le=10)
    learn_config: Path | None = Field(
        default=None, description="The learner the API serves (/v1/generate, /v1/reward, "
        "/v1/feedback): a YAML like configs/learning/dual.yaml; unset: that one.")
    qdrant_url: str | None = Field(
        default=None, description="Qdrant server; when unset, local mode in the data folder.")

    @property
    def home_path(self) -> Path:
        return self.home.expanduser().resolve()
