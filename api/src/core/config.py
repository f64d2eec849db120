"""Every server knob, read once from the environment (and an optional `.env`).

Each field is documented in README.md's settings table; the env var is the field name in upper case.
"""
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    host: str = "0.0.0.0"
    port: int = 8880
    workers: int = Field(1, ge=1)   # processes `python -m api` starts (each holds its own model)
    log_level: str = "INFO"

    # Models and voices
    model_dir: Path = PACKAGE_DIR / "models"
    default_model_version: str = "v1_0"
    preload_versions: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allow_model_unload: bool = False
    idle_unload_s: float = Field(0.0, ge=0)   # free a version unused this long (0: never); rebuilt on demand
    download_model: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # how the network runs (inference/engines/): auto picks torch-bf16 on CPUs with AVX512_BF16 / AMX
    engine: Literal["auto", "torch-fp32", "torch-bf16"] = "auto"
    torch_threads: int = Field(0, ge=0)
    default_voice: str = "af_heart"
    preload_voices: Annotated[list[str], NoDecode] = Field(default_factory=list)
    normalize_voice_weights: bool = True
    allow_voice_save: bool = False
    voice_save_max_count: int = Field(100, ge=1)     # saved voices per model version (409 beyond)
    voice_save_max_mb: float = Field(64.0, gt=0)     # their bytes per model version (a v1.0 pack: 0.5 MB)

    # Download links (return_download_link)
    temp_file_dir: Path = Path(tempfile.gettempdir()) / "kokoro-downloads"
    temp_file_max_mb: float = Field(1024.0, gt=0)
    temp_file_max_age_s: float = Field(3600.0, gt=0)

    # Admission
    max_input_chars: int = Field(200_000, ge=1)
    # the one cap on requests a worker process serves at once (the scheduler's admission; more get 429)
    max_active_requests: int = Field(10, ge=1)
    chunk_lookahead: int = Field(2, ge=1)
    request_timeout_s: float = Field(3600.0, gt=0)
    slow_reader_timeout_s: float = Field(60.0, gt=0)
    # processes that run normalization and G2P, each call bounded by REQUEST_TIMEOUT_S (started on first
    # use, shared by the apps of one process); 0: in the request's thread, unbounded (text_processing/text_work)
    text_workers: int = Field(2, ge=0)
    fault_injection: bool = False
    max_inflight_per_worker: Optional[int] = Field(None, ge=1)   # deprecated: MAX_ACTIVE_REQUESTS (see below)
    shutdown_grace_s: float = Field(25.0, ge=0)
    gpu_memory_clear_threshold: float = Field(0.8, gt=0, le=1)

    # Text chunking, counted in phonemes of the version that speaks them
    first_chunk_max_tokens: int = Field(100, ge=1, le=510)
    first_chunk_min_tokens: int = Field(20, ge=0, le=510)   # a shorter first sentence takes the next along
    chunk_ramp: float = Field(2.0, ge=0)                   # chunk k+1 <= ramp x phonemes before it; 0: off
    target_min_tokens: int = Field(175, ge=1, le=510)
    target_max_tokens: int = Field(250, ge=1, le=510)
    absolute_max_tokens: int = Field(450, ge=1, le=510)

    # Batching and backpressure (api/src/inference/scheduler/)
    max_batch_size: int = Field(0, ge=0)          # 0: by device (1 on CPU, 16 on CUDA)
    max_batch_tokens: int = Field(4096, ge=1)     # padded phonemes per batch (size x longest chunk)
    batch_wait_ms: float = Field(5.0, ge=0)
    max_queue_wait_s: float = Field(30.0, ge=0)   # 0: no bound by estimated work
    scheduling_policy: Literal["fair", "fifo"] = "fair"
    half_precision: bool = False
    gpu_memory_cap_fraction: float = Field(0.0, ge=0, le=1)

    # Markup, joins and repeated text
    allow_voice_tags: bool = True
    # distinct voice packs (names or mixes, half a megabyte each) one request may speak with
    max_voices_per_request: int = Field(32, ge=1)
    max_pause_s: float = Field(10.0, ge=0)
    # all pauses of one request together: at most this, or twice the speech, whichever is more
    max_total_pause_s: float = Field(60.0, ge=0)
    trim_silence: bool = True
    silence_threshold: float = Field(0.01, ge=0, le=1)
    silence_margin_s: float = Field(0.05, ge=0)
    sentence_pause_s: float = Field(0.25, ge=0, le=5)
    clause_pause_s: float = Field(0.12, ge=0, le=5)
    word_pause_s: float = Field(0.05, ge=0, le=5)
    chunk_cache_mb: int = Field(64, ge=0)
    pronunciations_file: Optional[Path] = None   # JSON {word: "/phonemes/" or respelling}, for every request
    # JSON {version: {OpenAI voice name: voice or mix}}, over the packaged api/src/core/openai_voices.json
    openai_voice_map: Optional[Path] = None

    # WS /v1/audio/speech/stream (text streamed in): sockets a worker serves, contexts a socket opens, one
    # message's size, a socket's idle time, and the quiet gap after which buffered text is spoken
    stream_max_sockets: int = Field(32, ge=1)
    stream_max_contexts: int = Field(4, ge=1)
    stream_max_message_bytes: int = Field(64 * 1024, ge=256)
    stream_idle_timeout_s: float = Field(120.0, gt=0)
    stream_quiet_flush_ms: float = Field(500.0, gt=0)
    # a streamed reply's first chunk (and the first after its audio ran out): short, so its audio comes soon
    stream_first_chunk_tokens: int = Field(30, ge=1, le=510)

    # Wyoming (Home Assistant's protocol; api/src/wyoming_server/): its TCP port on HOST (unset: off; with
    # WORKERS > 1 every worker binds it, SO_REUSEPORT), connections a worker serves at once, the time a
    # connection may send nothing while nothing is spoken, and the mDNS announcement (the zeroconf extra)
    wyoming_port: Optional[int] = Field(None, ge=0, le=65535)
    wyoming_max_connections: int = Field(32, ge=1)
    wyoming_idle_timeout_s: float = Field(120.0, gt=0)
    wyoming_zeroconf: bool = False

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    body_read_timeout_s: float = Field(15.0, gt=0)   # a work request's body must arrive within this (408)
    # the request head (line and headers): its time to arrive and its size (python -m api; see http/server_limits)
    header_read_timeout_s: float = Field(10.0, gt=0)
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    max_request_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    log_json: bool = False
    log_input_text: bool = False
    enable_web_ui: bool = True
    enable_dev_routes: bool = True   # /dev/*: phonemize, speech from phonemes, captioned speech

    @field_validator("cors_origins", "preload_versions", "api_keys", "preload_voices", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys_or_nothing(cls, value: object) -> object:
        """API_KEYS unset or empty: no authentication. Set to something that holds no key (",", " , "):
        refused, since it would silently switch authentication off."""
        blank = (isinstance(value, str) and value != "" and not value.replace(",", "").strip()) or \
            (isinstance(value, (list, tuple)) and value and not any(str(k).strip() for k in value))
        if blank:
            raise ValueError("holds no key (only commas or spaces): set at least one key, or leave API_KEYS "
                             "empty to run without authentication")
        return value

    @field_validator("pronunciations_file", "openai_voice_map", "wyoming_port", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _migrate_inflight_cap(self) -> "Settings":
        """MAX_INFLIGHT_PER_WORKER was a second cap beside MAX_ACTIVE_REQUESTS; it still works: alone it
        sets MAX_ACTIVE_REQUESTS, with it the smaller of the two binds (as both did before)."""
        old = self.max_inflight_per_worker
        if old is not None:
            explicit = "max_active_requests" in self.model_fields_set
            self.max_active_requests = min(old, self.max_active_requests) if explicit else old
        return self

    def deprecations(self) -> list[str]:
        """Start-up warnings for settings that still work under an old name, each naming the new one."""
        if self.max_inflight_per_worker is None:
            return []
        return [f"MAX_INFLIGHT_PER_WORKER is deprecated: set MAX_ACTIVE_REQUESTS instead, the one cap on "
                f"requests a worker serves at once (now {self.max_active_requests})"]

    @model_validator(mode="after")
    def _check_chunk_limits(self) -> "Settings":
        if not self.target_min_tokens <= self.target_max_tokens <= self.absolute_max_tokens:
            raise ValueError("need TARGET_MIN_TOKENS <= TARGET_MAX_TOKENS <= ABSOLUTE_MAX_TOKENS")
        if 0 < self.chunk_ramp < 1:
            raise ValueError("CHUNK_RAMP is 0 (off) or at least 1")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
