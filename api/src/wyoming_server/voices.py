"""What ``describe`` answers, and which of our voices a Wyoming voice names: ``WyomingVoices``.

``info()`` is one TTS program with every voice of every model version whose files are on disk, listed
from the version's folders as ``GET /v1/audio/voices`` lists them: no model is built or waited for. The
default version's voices are named by their id (``af_heart``); another version's carry its model id,
``kokoro-v0_19:af_bella``, since both versions have an ``af_bella``.

``choose()`` turns a Wyoming ``voice`` into the ``model`` and ``voice`` of a ``SpeechRequest``: its
``name`` is anything our ``voice`` field takes (an id, a readable name, a mix, an OpenAI name), with an
optional ``<model id>:`` in front; without a name, ``language`` picks that language's voice
(``core.voice_naming.voice_for_language``); without either, DEFAULT_VOICE. ``speaker`` is not used:
no Kokoro voice has several speakers.
"""
from typing import Optional

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice
from wyoming.tts import SynthesizeVoice

from ..core.exceptions import InvalidRequest, quote
from ..core.voice_naming import voice_details, voice_for_language
from ..inference.model_manager import ModelManager

PROGRAM = "kokoro"
_VERSION_SEPARATOR = ":"   # no voice name or mix holds one


def _label(version: str) -> str:
    return "Kokoro " + version.replace("_", ".")   # v0_19 -> Kokoro v0.19


class WyomingVoices:
    """See the module docstring. ``program_version`` is the server's version (the app's)."""

    def __init__(self, manager: ModelManager, default_voice: str, program_version: str):
        self.manager = manager
        self.default_voice = default_voice
        self.program_version = program_version

    def versions_on_disk(self) -> list[str]:
        """The versions whose files are all in MODEL_DIR, the default one first."""
        model_dir, default = self.manager.settings.model_dir, self.manager.default_version
        ordered = [default, *(v for v in self.manager.versions if v != default)]
        return [v for v in ordered if not self.manager.versions[v].missing_files(model_dir)]

    def wyoming_name(self, version: str, voice_id: str) -> str:
        if version == self.manager.default_version:
            return voice_id
        return f"{self.manager.versions[version].model_id}{_VERSION_SEPARATOR}{voice_id}"

    def _voice(self, version: str, voice_id: str) -> TtsVoice:
        spec = self.manager.versions[version]
        details = voice_details(voice_id)
        about = [details["accent"], details["gender"]]
        if version != self.manager.default_version:
            about.append(_label(version))
        described = ", ".join(a for a in about if a)
        return TtsVoice(
            name=self.wyoming_name(version, voice_id),
            description=f"{details['name'] or voice_id} ({described})" if described else voice_id,
            attribution=Attribution(name=spec.repo_id.split("/")[0], url=f"https://huggingface.co/{spec.repo_id}"),
            installed=True, version=version, languages=[details["language"]] if details["language"] else [])

    def info(self) -> Info:
        voices = [self._voice(version, voice_id)
                  for version in self.versions_on_disk() for voice_id in self.manager.voice_names(version)]
        default = self.manager.versions[self.manager.default_version]
        program = TtsProgram(
            name=PROGRAM, description="Kokoro-82M text to speech, streamed sentence by sentence",
            attribution=Attribution(name=default.repo_id.split("/")[0], url=f"https://huggingface.co/{default.repo_id}"),
            installed=True, version=self.program_version, voices=voices, supports_synthesize_streaming=True)
        return Info(tts=[program])

    def choose(self, voice: Optional[SynthesizeVoice]) -> tuple[str, str]:
        """``(model, voice)`` for a ``SpeechRequest``; InvalidRequest for an unknown model prefix or a
        language no voice speaks (an unknown voice is refused by the request, as over HTTP)."""
        default_model = self.manager.versions[self.manager.default_version].model_id
        name = (voice.name or "").strip() if voice is not None else ""
        if name:
            if _VERSION_SEPARATOR not in name:
                return default_model, name
            model, _, spec = name.partition(_VERSION_SEPARATOR)
            version = self.manager.version_for(model.strip())
            return self.manager.versions[version].model_id, spec.strip()
        language = (voice.language or "").strip() if voice is not None else ""
        if not language:
            return default_model, self.default_voice
        for version in self.versions_on_disk():
            picked = voice_for_language(language, self.manager.voice_names(version), self.default_voice)
            if picked is not None:
                return self.manager.versions[version].model_id, picked
        spoken = sorted({details["language"] for version in self.versions_on_disk()
                         for details in map(voice_details, self.manager.voice_names(version)) if details["language"]})
        raise InvalidRequest(f"no voice here speaks language {quote(language)}; languages: {', '.join(spoken)}",
                             param="voice", code="language_not_supported")
