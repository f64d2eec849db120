"""Request and response bodies of the OpenAI-compatible API."""
import re
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..core.voice_naming import VoiceDetails, voice_details
from .normalization import NormalizationOptions

_ALIAS_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]


class VoiceRef(BaseModel):
    """OpenAI's object form of a voice: ``{"id": "..."}``."""

    id: str


class VoiceAlias(BaseModel):
    """A per-request voice alias with its own pace: ``{"voice": "af_bella(2)+af_sky", "rate": 1.1}``."""

    model_config = ConfigDict(extra="forbid")

    voice: str = Field(..., min_length=1, max_length=1000)
    rate: float = Field(1.0, gt=0.0, le=4.0, description="Multiplies the request's speed")


class SpeechRequest(BaseModel):
    """``POST /v1/audio/speech``: OpenAI's fields plus Kokoro-FastAPI's extensions and ``seed``."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field("kokoro", description="kokoro, kokoro-v1_0, tts-1, tts-1-hd or gpt-4o-mini-tts")
    input: str = Field(..., description="Text to speak (empty or only whitespace: 400, code empty_input)")
    voice: Union[str, VoiceRef] = Field(
        "af_heart", description="A voice name, an OpenAI voice name, {'id': ...}, or a mix like af_bella(2)+af_sky(1)"
    )
    response_format: AudioFormat = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream: bool = Field(True, description="Send audio as it is generated (chunked transfer)")
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: Optional[str] = Field(None, description="Accepted for compatibility; Kokoro ignores it")
    lang_code: Optional[str] = Field(None, description="Override the language picked from the voice prefix")
    volume_multiplier: float = Field(1.0, ge=0.0, le=10.0)
    seed: Optional[int] = Field(None, ge=0, le=2**63 - 1, description="Same seed, same audio bytes")
    return_download_link: bool = Field(
        False, description="Also keep the finished file: its path is in the X-Download-Path response header")
    normalization_options: NormalizationOptions = Field(default_factory=NormalizationOptions)
    ssml: bool = Field(False, description="Read input as SSML (break, prosody rate, voice, phoneme, sub, say-as)")
    allow_voice_tags: bool = Field(False, description="Honour inline [voice:name] and [rate:x] tags")
    voice_aliases: dict[str, Union[str, VoiceAlias]] = Field(
        default_factory=dict, max_length=64,
        description="Names for this request: alias -> a voice mix, or {voice, rate}; usable as voice and in tags")
    pronunciations: dict[str, str] = Field(
        default_factory=dict,
        description="word -> '/phonemes/' (the model's alphabet) or a respelling; whole words, any case; "
                    "wins over the server's PRONUNCIATIONS_FILE")

    @property
    def voice_name(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice

    @field_validator("model")
    @classmethod
    def _strip_model(cls, value: str) -> str:
        return value.strip()

    @field_validator("voice_aliases")
    @classmethod
    def _check_aliases(cls, value: dict[str, Union[str, VoiceAlias]]) -> dict[str, Union[str, VoiceAlias]]:
        for name, target in value.items():
            if not _ALIAS_NAME.fullmatch(name):
                raise ValueError(f"alias name {name!r} must be 1-64 letters, digits, '_' or '-'")
            if isinstance(target, str) and not 0 < len(target) <= 1000:
                raise ValueError(f"alias {name!r} needs a voice")
        return {name.strip(): target for name, target in value.items()}


class CombineRequest(BaseModel):
    """``POST /v1/audio/voices/combine``: what to mix, with which version, and whether to keep it."""

    model_config = ConfigDict(extra="forbid")   # a misspelt "overwrite" must not pass silently

    voices: Union[str, list[str]] = Field(
        ..., description="A mix like af_bella(2)+af_sky(1)-am_adam(0.3), or a list of voice names mixed equally")
    model: Optional[str] = Field(None, description="A model id picking the version; default: the default version")
    name: Optional[str] = Field(None, description="Name of the pack ([A-Za-z0-9_]{1,64}); needed to save")
    save: bool = Field(False, description="Keep the pack as a voice of the version (ALLOW_VOICE_SAVE=true)")
    overwrite: bool = Field(False, description="Replace a voice saved earlier under that name (built-in voices "
                                                "are read-only)")


class VoiceInfo(BaseModel):
    """One voice, described by its id under Kokoro's naming scheme (``core.voice_naming``)."""

    id: str = Field(description="What a request's `voice` names, e.g. af_heart")
    name: str = Field(description="A display name (Heart); the id itself for ids outside the naming scheme")
    language: Optional[str] = Field(description="BCP-47 tag (en-US); null outside the naming scheme")
    accent: Optional[str] = Field(description="Readable language or accent (American English); null outside it")
    gender: Optional[Literal["female", "male"]] = Field(description="null outside the naming scheme")

    @classmethod
    def of(cls, voice_id: str) -> "VoiceInfo":
        details: VoiceDetails = voice_details(voice_id)
        return cls(id=voice_id, name=details["name"] or voice_id, language=details["language"],
                   accent=details["accent"], gender=details["gender"])


class VoiceList(BaseModel):
    voices: list[VoiceInfo]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "kokoro"
    version: str = Field(description="The Kokoro generation this id speaks with")
    state: str = Field(description="not_loaded, unloaded_idle, loading, ready, missing_files or failed")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AudioModelList(ModelList):
    """OpenAI's listing with the same cards again under ``models``, the key Open WebUI reads."""

    models: list[ModelCard]
