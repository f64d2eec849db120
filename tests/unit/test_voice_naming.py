"""Kokoro's voice naming scheme: language, accent, gender and a readable name from the id."""
import pytest

from api.src.core.voice_naming import voice_details


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
