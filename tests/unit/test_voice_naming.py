"""Kokoro's voice naming scheme: language, accent, gender and a readable name from the id."""
import pytest

from api.src.core.voice_naming import voice_details, voice_for_language


@pytest.mark.parametrize("voice_id, name, language, accent, gender", [
    ("af_heart", "Heart", "en-US", "American English", "female"),
    ("bm_george", "George", "en-GB", "British English", "male"),
    ("ef_dora", "Dora", "es", "Spanish", "female"),
    ("ff_siwis", "Siwis", "fr-FR", "French", "female"),
    ("hm_omega", "Omega", "hi-IN", "Hindi", "male"),
    ("if_sara", "Sara", "it-IT", "Italian", "female"),
    ("jm_kumo", "Kumo", "ja-JP", "Japanese", "male"),
    ("pm_santa", "Santa", "pt-BR", "Brazilian Portuguese", "male"),
    ("zf_xiaobei", "Xiaobei", "zh-CN", "Mandarin Chinese", "female"),
    ("af", "af", "en-US", "American English", "female"),        # v0.19's default mix has no name part
])
def test_scheme_ids(voice_id, name, language, accent, gender):
    assert voice_details(voice_id) == {"id": voice_id, "name": name, "language": language, "accent": accent,
                                       "gender": gender}


@pytest.mark.parametrize("voice_id", ["mymix", "xf_alpha", "ax_heart", "Af_heart", "a", ""])
def test_ids_outside_the_scheme_get_null_fields(voice_id):
    assert voice_details(voice_id) == {"id": voice_id, "name": None, "language": None, "accent": None,
                                       "gender": None}


VOICES = ["af_bella", "af_heart", "am_adam", "bf_emma", "bm_george", "ff_siwis", "jm_kumo", "af", "my_mix"]


@pytest.mark.parametrize("language, default, voice", [
    ("en-US", "af_heart", "af_heart"),
    ("en_gb", "af_heart", "bf_emma"),          # Home Assistant and Piper spell it with "_"
    ("EN-GB", "bm_george", "bm_george"),       # DEFAULT_VOICE when it speaks the language
    ("en", "af_heart", "af_heart"),            # the language without a region: any of its voices
    ("en", "bm_george", "bm_george"),
    ("fr", "af_heart", "ff_siwis"),
    ("fr-CA", "af_heart", "ff_siwis"),         # the one French voice for any French
    ("ja-JP", "af_heart", "jm_kumo"),          # no jf_alpha here: the first voice (no female one)
    ("de-DE", "af_heart", None),
    ("", "af_heart", None),
])
def test_a_language_alone_picks_a_voice(language, default, voice):
    assert voice_for_language(language, VOICES, default) == voice


def test_a_language_without_its_preferred_voice_takes_a_female_one():
    assert voice_for_language("en-GB", ["bm_george", "bf_alice", "bf_lily"], "af_heart") == "bf_alice"
