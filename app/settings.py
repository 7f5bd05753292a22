"""Frozen settings, one dataclass per concern, read from the environment through one cached getter."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _env_float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _env_bool(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the data lives."""

    url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL") or None)
    """DATABASE_URL: a PostgreSQL 15+ server with pgvector; unset = embedded PostgreSQL."""
    data_dir: Path = field(default_factory=lambda: Path(_env("IPAI_DATA_DIR", "./.ipai-rag")).resolve())
    """IPAI_DATA_DIR: embedded database folder, embedding cache, eval runs."""
    pool_min: int = field(default_factory=lambda: _env_int("DB_POOL_MIN", 2))
    """DB_POOL_MIN: connections kept open."""
    pool_max: int = field(default_factory=lambda: _env_int("DB_POOL_MAX", 10))
    """DB_POOL_MAX: most connections at once."""
    read_urls: tuple[str, ...] = field(default_factory=lambda: tuple(
        u.strip() for u in _env("DATABASE_READ_URL", "").split(",") if u.strip()))
    """DATABASE_READ_URL: read replicas (streaming standbys), comma-separated, for searches, retrieval, lists and
    exports; the service connects to them as its own role (the URL's host, port and database count)."""
    read_max_lag: float = field(default_factory=lambda: _env_float("READ_MAX_LAG_SECONDS", 5.0))
    """READ_MAX_LAG_SECONDS: a replica whose replay is further behind serves nothing until it catches up."""
    app_url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_APP_URL") or None)
    """DATABASE_APP_URL: how the service connects as its non-owner role (member of ipai_app); unset = the
    owner's URL with the role ipai_app and a password generated once and kept in the database, so that every
    process (replicas included) connects with the same one."""


@dataclass(frozen=True)
class OpenAISettings:
    """Any OpenAI-compatible server (OpenAI, vLLM, Ollama, LiteLLM)."""

    api_key: str | None = field(default_factory=lambda: os.environ.get("OPENAI_API_KEY") or None)
    """OPENAI_API_KEY: unset = offline providers."""
    base_url: str | None = field(default_factory=lambda: os.environ.get("OPENAI_BASE_URL") or None)
    """OPENAI_BASE_URL: e.g. http://localhost:11434/v1 for Ollama."""
    timeout: float = field(default_factory=lambda: _env_float("OPENAI_TIMEOUT", 30.0))
    """OPENAI_TIMEOUT: seconds per request."""
    max_retries: int = field(default_factory=lambda: _env_int("OPENAI_MAX_RETRIES", 3))
    """OPENAI_MAX_RETRIES: retries on 429/5xx/timeouts, exponential backoff with jitter."""


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which embedder the service uses."""

    provider: str = field(default_factory=lambda: _env("EMBEDDING_PROVIDER", "local"))
    """EMBEDDING_PROVIDER: local (MiniLM, offline), openai, or hash (lexical, for tests)."""
    model: str = field(default_factory=lambda: _env("EMBEDDING_MODEL", "text-embedding-3-small"))
    """EMBEDDING_MODEL: model name for the openai provider."""
    dimensions: int = field(default_factory=lambda: _env_int("EMBEDDING_DIMENSIONS", 0))
    """EMBEDDING_DIMENSIONS: vector size; 0 = the provider's default (1536 openai, 384 local/hash)."""
    batch_size: int = field(default_factory=lambda: _env_int("EMBEDDING_BATCH_SIZE", 64))
    """EMBEDDING_BATCH_SIZE: texts per embedding call."""


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut."""

    size: int = field(default_factory=lambda: _env_int("CHUNK_TOKENS", 512))
    """CHUNK_TOKENS: target chunk size in cl100k_base tokens."""
    overlap: int = field(default_factory=lambda: _env_int("CHUNK_OVERLAP", 64))
    """CHUNK_OVERLAP: tokens repeated between neighbouring chunks."""


@dataclass(frozen=True)
class ServerSettings:
    """The HTTP service and its in-process worker."""

    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    """HOST: bind address."""
    port: int = field(default_factory=lambda: _env_int("PORT", 8000))
    """PORT: bind port."""
    run_worker: bool = field(default_factory=lambda: _env_bool("RUN_WORKER", True))
    """RUN_WORKER: run an embedding worker inside `serve`."""
    max_upload_bytes: int = field(default_factory=lambda: _env_int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
    """MAX_UPLOAD_BYTES: largest accepted request body (413 beyond)."""
    max_streams: int = field(default_factory=lambda: _env_int("REALTIME_MAX_STREAMS", 500))
    """REALTIME_MAX_STREAMS: realtime streams one process serves at once (429 beyond)."""
    max_streams_per_caller: int = field(default_factory=lambda: _env_int("REALTIME_MAX_STREAMS_PER_KEY", 20))
    """REALTIME_MAX_STREAMS_PER_KEY: realtime streams one API key (or token subject) holds at once (429 beyond)."""
    max_decompressed_bytes: int = field(default_factory=lambda: _env_int("MAX_DECOMPRESSED_BYTES", 256 * 1024 * 1024))
    """MAX_DECOMPRESSED_BYTES: largest decompressed size of one uploaded file (.gz, an office file's zip container;
    413 beyond); a quarter of it bounds the XML of an office file and the page content of a PDF (what their
    parsers work through whole)."""
    tenant_id: str = field(default_factory=lambda: _env("DEFAULT_TENANT", "default"))
    """DEFAULT_TENANT: tenant of the development key and of CLI commands without --tenant."""


@dataclass(frozen=True)
class AssistantSettings:
    """The answering side: chat model, budgets, relevance floor, link allow-list."""

    chat_model: str = field(default_factory=lambda: _env("CHAT_MODEL", "gpt-4o-mini"))
    """CHAT_MODEL: model name on the OpenAI-compatible server (used only with OPENAI_API_KEY)."""
    max_tokens: int = field(default_factory=lambda: _env_int("ANSWER_MAX_TOKENS", 512))
    """ANSWER_MAX_TOKENS: longest generated answer."""
    context_tokens: int = field(default_factory=lambda: _env_int("CONTEXT_TOKENS", 3000))
    """CONTEXT_TOKENS: token budget for retrieved text in a prompt."""
    context_window: int = field(default_factory=lambda: _env_int("CONTEXT_WINDOW", 16000))
    """CONTEXT_WINDOW: the chat model's window (history is trimmed to fit)."""
    min_similarity: float = field(default_factory=lambda: _env_float("ASK_MIN_SIMILARITY", 0.3))
    """ASK_MIN_SIMILARITY: cosine floor below which a hit without shared terms is not relevant."""
    allowed_link_hosts: frozenset[str] = field(default_factory=lambda: frozenset(
        h.strip() for h in _env("ALLOWED_LINK_HOSTS", "").split(",") if h.strip()))
    """ALLOWED_LINK_HOSTS: comma list of hosts answers may link to (others are unlinked)."""
    sentence_similarity: bool = field(default_factory=lambda: _env_bool("ANSWER_SENTENCE_SIMILARITY", True))
    """ANSWER_SENTENCE_SIMILARITY: the extractive answerer also weighs question-sentence similarity from
    the local MiniLM, sentence vectors and token matching (better answers; one encoding of the question
    per ask, more while its sentence cache is cold); off, its lexical weights choose."""


@dataclass(frozen=True)
class OdooSettings:
    """The Odoo instance the catalog sync reads (until the bridge keeps instances in the database)."""

    url: str | None = field(default_factory=lambda: os.environ.get("ODOO_URL") or None)
    """ODOO_URL: e.g. https://erp.example.com; unset = catalog sync skips Odoo."""
    audit_retention_days: int = field(default_factory=lambda: _env_int("AUDIT_RETENTION_DAYS", 365))
    """AUDIT_RETENTION_DAYS: how long the webhook ledger's log and the vault's read audit are kept (the daily
    cleanup job removes older rows)."""
    allowed_hosts: tuple[str, ...] = field(default_factory=lambda: tuple(
        h.strip().lower() for h in _env("ODOO_ALLOWED_HOSTS", "").split(",") if h.strip()))
    """ODOO_ALLOWED_HOSTS: hosts (or origins, e.g. https://erp.example.com) a catalog sync may call besides ODOO_URL
    and the tenant's registered instances."""
    db: str = field(default_factory=lambda: _env("ODOO_DB", "odoo"))
    """ODOO_DB: the Odoo database name."""
    user: str = field(default_factory=lambda: _env("ODOO_USER", "admin"))
    """ODOO_USER: login used for JSON-RPC."""
    password: str = field(default_factory=lambda: _env("ODOO_PASSWORD", ""))
    """ODOO_PASSWORD: password or API key of that login."""
    outbound_url: str | None = field(default_factory=lambda: os.environ.get("OUTBOUND_WEBHOOK_URL") or None)
    """OUTBOUND_WEBHOOK_URL: where scheduled jobs are delivered (e.g. an n8n webhook) unless a job names its own."""
    outbound_secret: str = field(default_factory=lambda: _env("OUTBOUND_WEBHOOK_SECRET", ""))
    """OUTBOUND_WEBHOOK_SECRET: signs outbound deliveries like inbound webhooks (x-ipai-signature)."""
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("SMTP_URL") or None)
    """SMTP_URL: the mail server of email alerts, smtp://[user:password@]host[:port] (STARTTLS when the server
    offers it), or smtps:// for TLS from the start; unset = email alerts fail (and are retried)."""
    smtp_from: str = field(default_factory=lambda: _env("SMTP_FROM", "ipai-rag@localhost"))
    """SMTP_FROM: the sender of email alerts."""
    kb_models: frozenset[str] = field(default_factory=lambda: frozenset(
        m.strip() for m in _env("ODOO_KB_MODELS", "knowledge.article").split(",") if m.strip()))
    """ODOO_KB_MODELS: Odoo models whose records become knowledge-base documents."""
    attachment_models: frozenset[str] = field(default_factory=lambda: frozenset(
        m.strip() for m in _env("ODOO_ATTACHMENT_MODELS", "").split(",") if m.strip()))
    """ODOO_ATTACHMENT_MODELS: Odoo models (e.g. account.move,project.task) whose ir.attachment records are kept
    in the attachments bucket (and ingested when the knowledge base reads their type); unset = none."""


@dataclass(frozen=True)
class StorageSettings:
    """Where stored files' bytes live (their metadata is always in PostgreSQL)."""

    backend: str = field(default_factory=lambda: _env("STORAGE_BACKEND", "s3" if os.environ.get("S3_BUCKET")
                                                       else "file"))
    """STORAGE_BACKEND: file (content-addressed, under IPAI_DATA_DIR/storage) or s3 (any S3-compatible store);
    default s3 when S3_BUCKET is set, else file."""
    s3_bucket: str = field(default_factory=lambda: _env("S3_BUCKET", ""))
    """S3_BUCKET: the object-store bucket that holds every tenant's blobs."""
    s3_endpoint: str | None = field(default_factory=lambda: os.environ.get("S3_ENDPOINT") or None)
    """S3_ENDPOINT: e.g. http://minio:9000, https://<project>.supabase.co/storage/v1/s3,
    https://<account>.r2.cloudflarestorage.com; unset = AWS S3 of S3_REGION."""
    s3_region: str = field(default_factory=lambda: _env("S3_REGION", "us-east-1"))
    """S3_REGION: the bucket's region."""
    s3_access_key_id: str | None = field(default_factory=lambda: os.environ.get("S3_ACCESS_KEY_ID") or None)
    """S3_ACCESS_KEY_ID: unset = the usual AWS credential chain (AWS_ACCESS_KEY_ID, instance role ...)."""
    s3_secret_access_key: str | None = field(default_factory=lambda: os.environ.get("S3_SECRET_ACCESS_KEY") or None)
    """S3_SECRET_ACCESS_KEY: the secret of that key."""
    s3_prefix: str = field(default_factory=lambda: _env("S3_PREFIX", "ipai-rag/"))
    """S3_PREFIX: where in the bucket the service keeps its blobs."""
    max_object_bytes: int = field(default_factory=lambda: _env_int("STORAGE_MAX_OBJECT_BYTES", 50 * 1024 * 1024))
    """STORAGE_MAX_OBJECT_BYTES: largest object of a bucket without its own limit (413 beyond)."""
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL", "").rstrip("/"))
    """PUBLIC_URL: the service's address as callers see it (e.g. https://rag.example.com), for signed URLs;
    unset = the address the signing request was sent to."""


@dataclass(frozen=True)
class SecuritySettings:
    """Who may call the API, how often, and where the vault key comes from."""

    jwt_secret: str | None = field(default_factory=lambda: os.environ.get("JWT_SECRET") or None)
    """JWT_SECRET: HS256 secret (Supabase's project JWT secret); unset = HS256 tokens refused."""
    jwt_jwks_file: Path | None = field(default_factory=lambda: Path(os.environ["JWT_JWKS_FILE"])
                                       if os.environ.get("JWT_JWKS_FILE") else None)
    """JWT_JWKS_FILE: JSON Web Key Set for RS256 tokens; unset = RS256 tokens refused."""
    jwt_audience: str = field(default_factory=lambda: _env("JWT_AUDIENCE", "authenticated"))
    """JWT_AUDIENCE: required `aud`."""
    jwt_issuer: str | None = field(default_factory=lambda: os.environ.get("JWT_ISSUER") or None)
    """JWT_ISSUER: required `iss` (unset = not checked)."""
    jwt_tenant_claim: str = field(default_factory=lambda: _env("JWT_TENANT_CLAIM", "tenant_id"))
    """JWT_TENANT_CLAIM: claim (top level or in app_metadata) naming the tenant."""
    rate_limit_per_minute: int = field(default_factory=lambda: _env_int("RATE_LIMIT_PER_MINUTE", 600))
    """RATE_LIMIT_PER_MINUTE: requests per key (or token subject) per minute; 0 = unlimited."""
    rate_limit_burst: int = field(default_factory=lambda: _env_int("RATE_LIMIT_BURST", 60))
    """RATE_LIMIT_BURST: requests a key may send at once before the per-minute rate applies."""
    rate_limit_replicas: int = field(default_factory=lambda: max(1, _env_int("RATE_LIMIT_REPLICAS", 1)))
    """RATE_LIMIT_REPLICAS: how many service processes share the limits; each enforces its share (rate and burst
    divided), so that N replicas together allow one key the configured limit."""
    key_cache_seconds: float = field(default_factory=lambda: _env_float("API_KEY_CACHE_SECONDS", 30.0))
    """API_KEY_CACHE_SECONDS: how long a verified API key is held in memory (no database lookup per request); a
    change to a key is announced by the database and drops it at once on every replica; 0 = look up every time."""
    vault_key: str | None = field(default_factory=lambda: os.environ.get("IPAI_VAULT_KEY") or None)
    """IPAI_VAULT_KEY: base64 of the 32-byte vault key."""
    vault_key_file: Path | None = field(default_factory=lambda: Path(os.environ["IPAI_VAULT_KEY_FILE"])
                                        if os.environ.get("IPAI_VAULT_KEY_FILE") else None)
    """IPAI_VAULT_KEY_FILE: file holding that key; both unset = IPAI_DATA_DIR/vault.key, created on first use."""
    dev_key: bool = field(default_factory=lambda: _env_bool("IPAI_DEV_KEY", not os.environ.get("DATABASE_URL")))
    """IPAI_DEV_KEY: `serve` prints a fresh admin key of the default tenant (revoking the previous one);
    default on with the embedded database (local development), off with DATABASE_URL."""


@dataclass(frozen=True)
class Settings:
    """All settings of one process."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    openai: OpenAISettings = field(default_factory=OpenAISettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    chunks: ChunkSettings = field(default_factory=ChunkSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    assistant: AssistantSettings = field(default_factory=AssistantSettings)
    odoo: OdooSettings = field(default_factory=OdooSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    storage: StorageSettings = field(default_factory=StorageSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
