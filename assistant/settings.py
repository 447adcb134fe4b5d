"""The one settings object.

Precedence, highest first: command-line flags > environment variables (``ASSISTANT_*``; the LLM
key and URL also read ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``) > the config file > defaults.
The config file is TOML: ``ASSISTANT_CONFIG_FILE`` names it, else ``./assistant.toml`` is read
when present. Keys are the field names below (``index_dir = "my-index"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2-q8"


def config_file_path() -> Path | None:
    """The config file in force: ``ASSISTANT_CONFIG_FILE`` or ``./assistant.toml`` if it exists."""
    named = os.environ.get("ASSISTANT_CONFIG_FILE")
    if named:
        return Path(named)
    local = Path("assistant.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    """Every setting of the assistant, each with its description."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_", extra="ignore", populate_by_name=True, validate_default=True
    )

    # --- storage
    index_dir: Path = Field(
        default=Path("index"),
        description="Folder of the on-disk index (Chroma, catalog, lexical index, chat sessions).",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server (http://host:port); when set, embeddings live there.",
    )
    collection: str = Field(
        default="papers", description="Name prefix of the Chroma collection on a shared server."
    )
    chroma_token: SecretStr | None = Field(
        default=None,
        description="Token for a Chroma server that requires one (sent with every request).",
    )
    chroma_token_header: Literal["Authorization", "X-Chroma-Token"] = Field(
        default="Authorization",
        description="How the token is sent: 'Authorization' (Bearer) or 'X-Chroma-Token'.",
    )
    server_dense_above_chunks: int = Field(
        default=250_000,
        ge=0,
        description=(
            "With a Chroma server: above this many chunks on it, dense search asks the server "
            "for the nearest chunks instead of keeping every vector in a local mirror (a "
            "float32 mirror takes about 1.5 KB a chunk at 384 dimensions: the default is "
            "about 380 MB). 0: always ask the server."
        ),
    )

    # --- embedding and chunking (changing these requires rebuilding the index)
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description=(
            "Embedding model: 'all-MiniLM-L6-v2-q8' (bundled ONNX with int8 matrix products, "
            "offline, the fastest), 'all-MiniLM-L6-v2' (the packaged model as is), "
            "'openai:<model>' (e.g. openai:text-embedding-3-small, needs an API key), "
            "'hf:<owner>/<name>[@<revision>]' (a sentence encoder with ONNX weights on the "
            "Hugging Face hub, downloaded once into the model cache; HF_ENDPOINT, HF_HUB_OFFLINE "
            "and HF_TOKEN apply), or the path of a folder with your own ONNX model (model.onnx "
            "+ tokenizer.json; a path or 'onnx:<path>')."
        ),
    )
    embedding_pooling: Literal["mean", "cls"] | None = Field(
        default=None,
        description=(
            "Pooling of a model from a folder: 'mean' or 'cls' (default: the folder's "
            "assistant-embedding.json, else 1_Pooling/config.json, else mean)."
        ),
    )
    embedding_query_prefix: str | None = Field(
        default=None,
        description=(
            "Text put before each query for a model from a folder (e5: 'query: '; bge: its "
            "query instruction); default: the folder's assistant-embedding.json or "
            "sentence-transformers prompts, else none."
        ),
    )
    embedding_passage_prefix: str | None = Field(
        default=None,
        description=(
            "Text put before each embedded passage for a model from a folder (e5: 'passage: '); "
            "default as for the query prefix."
        ),
    )
    embedding_max_tokens: int | None = Field(
        default=None,
        ge=8,
        le=8192,
        description=(
            "Longest input of a model from a folder, in word pieces (default: from its "
            "configs, e.g. 512 for bge)."
        ),
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description=(
            "Folder for the int8 model derived at first use and the hub models downloaded "
            "(hf:), shared by all indexes (default: "
            "$XDG_CACHE_HOME/literature-assistant/models or ~/.cache/literature-assistant/models)."
        ),
    )
    chunk_tokens: int = Field(
        default=128,
        ge=32,
        le=512,
        description="Most word pieces in one embedded chunk, title included (MiniLM: 128).",
    )
    chunk_overlap_sentences: int = Field(
        default=0, ge=0, le=3, description="Sentences repeated between consecutive chunks."
    )
    embed_batch_size: int = Field(
        default=32, ge=1, le=1024, description="Chunks per embedding batch."
    )
    ingest_batch_papers: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description=(
            "Papers embedded and committed together; an interrupted ingest resumes after the "
            "last committed batch."
        ),
    )
    embed_threads: int = Field(
        default=0, ge=0, description="ONNX runtime threads for embedding (0: all cores)."
    )
    max_abstract_chars: int = Field(
        default=20_000,
        ge=1_000,
        description=(
            "Longest abstract ingested; a longer one is cut at a sentence end (noted in the "
            "ingest report with its file and line)."
        ),
    )
    max_title_chars: int = Field(
        default=1_000,
        ge=100,
        description="Longest title ingested; a longer one is cut at a space (noted in the ingest "
        "report with its file and line).",
    )
    max_author_chars: int = Field(
        default=300,
        ge=50,
        description="Longest author name ingested; a longer one is cut at a space (noted).",
    )
    max_authors: int = Field(
        default=500,
        ge=10,
        description="Most authors kept of a paper; the rest of a longer list is dropped (noted).",
    )
    max_venue_chars: int = Field(
        default=500,
        ge=50,
        description="Longest venue ingested; a longer one is cut at a space (noted).",
    )
    max_snippet_chars: int = Field(
        default=400,
        ge=40,
        description="Most characters of a snippet that search prints (papers show prints at "
        "most max_abstract_chars of an abstract).",
    )
    keep_papers_without_abstract: bool = Field(
        default=True,
        description="Keep records that have a title but no abstract (indexed by their title, "
        "venue, tags and keywords, and marked as title only); false rejects them at ingest.",
    )

    # --- a Zotero library read directly (ingest --zotero)
    zotero_dir: Path | None = Field(
        default=None,
        description="Zotero's data folder (holding zotero.sqlite) for 'ingest --zotero' without "
        "a path; default ~/Zotero, Zotero's own default on every platform.",
    )
    zotero_poll_seconds: float = Field(
        default=10.0,
        ge=1.0,
        le=3600.0,
        description="How often 'ingest --zotero --watch' looks at the Zotero database for "
        "changes (a look costs one file stat; a sync runs only when the database changed).",
    )

    # --- retrieval
    top_k: int = Field(default=10, ge=1, le=200, description="Papers returned by search.")

    # --- the MCP server (assistant mcp)
    mcp_result_chars: int = Field(
        default=8000,
        ge=1000,
        le=200_000,
        description=(
            "Most characters of one MCP tool result (JSON), to keep an agent's context small: "
            "long texts are cut first, then the last papers dropped, and the result says so."
        ),
    )

    # --- language model
    llm_model: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ASSISTANT_LLM_MODEL", "llm_model"),
        description="Chat model; with no model and no endpoint, answers are extractive.",
    )
    llm_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ASSISTANT_LLM_BASE_URL", "OPENAI_BASE_URL", "llm_base_url"),
        description="OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).",
    )
    llm_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ASSISTANT_LLM_API_KEY", "OPENAI_API_KEY", "llm_api_key"),
        description="API key for the endpoint; not needed by local servers.",
    )
    llm_timeout: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds to wait for each read from the model's server (a call as a whole is "
            "bounded by llm_first_token_timeout and llm_answer_timeout)."
        ),
    )
    llm_max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries on timeouts, 429 and 5xx (with backoff)."
    )
    llm_temperature: float = Field(default=0.1, ge=0, le=2, description="Sampling temperature.")
    llm_first_token_timeout: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds from asking the model to its first token (retries included; keep-alive "
            "comments do not count); after it the extractive answer is given, with the reason."
        ),
    )
    llm_answer_timeout: float = Field(
        default=120.0,
        gt=0,
        description=(
            "Seconds the model may take for a whole reply (retries included); after it the "
            "extractive answer is given, with the reason."
        ),
    )
    answer_max_tokens: int = Field(
        default=1024,
        ge=16,
        le=100_000,
        description="Most tokens of a model's answer to ask and chat (sent as max_tokens).",
    )
    related_work_max_tokens: int = Field(
        default=2048,
        ge=16,
        le=100_000,
        description="Most tokens of a model's related-work draft (sent as max_tokens).",
    )
    related_work_pool: int = Field(
        default=40,
        ge=1,
        le=500,
        description="Papers a related-work draft considers: those of them beyond --k that look "
        "as relevant as the draft's own are reported as left out.",
    )
    cite_max_tokens: int = Field(
        default=512,
        ge=16,
        le=100_000,
        description="Most tokens of a model's reply to cite (sent as max_tokens).",
    )
    answer_papers: int = Field(
        default=6, ge=1, le=30, description="Retrieved papers given to the model per answer."
    )
    llm_context_tokens: int = Field(
        default=8192,
        ge=512,
        le=2_000_000,
        description=(
            "The model's context window in tokens (prompt and reply; llama.cpp: its --n_ctx). "
            "The sources given to the model are cut to fit beside the prompt and the reply's "
            "length cap (tokens estimated as characters / 4): less relevant sentences first, "
            "then the lowest-ranked papers; a server that still refuses the prompt as too long "
            "is asked once more with half the papers."
        ),
    )
    llm_gguf_threads: int | None = Field(
        default=None,
        ge=1,
        le=512,
        description=(
            "CPU threads for a local model file (-m gguf:PATH), for reading the prompt and "
            "for writing; default: llama.cpp's choice (half the cores to write, all to read)."
        ),
    )
    evidence_first: bool = Field(
        default=False,
        description=(
            "Give the model each paper's sentences most relevant to the question first "
            "('Key sentences:'), then the rest of its abstract ('Other sentences:'); false: "
            "whole abstracts as written."
        ),
    )
    llm_retrieval: Literal["off", "rewrite", "rerank", "both"] = Field(
        default="off",
        description=(
            "Let the model help retrieval in ask and chat: 'rewrite' (it writes 2-3 search "
            "queries, searched beside the question and fused), 'rerank' (it orders the top "
            "candidates by whether they answer the question), 'both', or 'off'. Costs one or "
            "two extra calls per question; on any failure plain retrieval is kept, with a note."
        ),
    )
    llm_rerank_candidates: int = Field(
        default=10,
        ge=2,
        le=50,
        description="Top retrieved papers the model reorders when llm_retrieval reranks.",
    )
    llm_prices: str | None = Field(
        default=None,
        description=(
            "Price of the model in USD per million prompt and completion tokens, "
            "'PROMPT,COMPLETION' (e.g. '0.15,0.60'; '0,0' for a local model), for the cost "
            "that -u/--usage prints; default: the built-in table of OpenAI prices."
        ),
    )

    # --- the answer log
    log_answers: bool = Field(
        default=True,
        description=(
            "Record every ask, cite, related-work and chat answer in the index folder's "
            "sessions.sqlite ('assistant logs' lists them); false turns the log off."
        ),
    )

    # --- the web app (assistant serve)
    web_token: SecretStr | None = Field(
        default=None,
        description=(
            "Token the web app requires (header 'Authorization: Bearer TOKEN' or "
            "'X-Assistant-Token', or its login form); needed to serve on any address but "
            "loopback. Never printed."
        ),
    )
    web_upload_max_bytes: int = Field(
        default=50_000_000,
        ge=1024,
        description="Largest file the web app accepts for ingest, in bytes (larger: refused).",
    )

    @field_validator(
        "chroma_url", "chroma_token", "llm_base_url", "llm_model", "web_token", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def llm_configured(self) -> bool:
        """True when an LLM endpoint or model was configured (else: extractive mode)."""
        return bool(self.llm_base_url or self.llm_model or self.llm_api_key)

    def public_dict(self) -> dict[str, Any]:
        """The effective settings, secrets masked, for display."""
        data = self.model_dump(mode="json")
        if self.llm_api_key is not None:
            data["llm_api_key"] = "**********"
        if self.chroma_token is not None:
            data["chroma_token"] = "**********"
        if self.web_token is not None:
            data["web_token"] = "**********"
        return data


def load_settings(**overrides: Any) -> Settings:
    """Settings from flags (``overrides``, None values ignored), environment and config file."""
    from assistant.errors import UsageError

    given = {k: v for k, v in overrides.items() if v is not None}
    path = config_file_path()
    if path is not None and not path.is_file():
        raise UsageError(
            f"Config file {path} does not exist.",
            hint="Unset ASSISTANT_CONFIG_FILE or point it at a TOML file.",
        )
    try:
        return Settings(**given)
    except Exception as exc:  # pydantic ValidationError or TOML decode error
        raise UsageError(
            f"Invalid settings: {exc}",
            hint="Check the ASSISTANT_* variables, the flags and the config file.",
        ) from exc
