"""The request's text normalization switches (``normalization_options``), shared by the request schemas and
the normalizer that reads them."""
from pydantic import BaseModel, ConfigDict


class NormalizationOptions(BaseModel):
    """The request's ``normalization_options`` (Kokoro-FastAPI's names and defaults); read-only, so that one
    instance can be the normalizer's default."""

    model_config = ConfigDict(frozen=True)

    normalize: bool = True  # master switch: False passes the text through unchanged
    markdown: bool = True  # "# Title", "**bold**", "- item", "[text](url)": the words read, the markup not
    unit_normalization: bool = False  # "10KB" -> "10 kilobytes" (opt-in: "5 m" could be minutes)
    url_normalization: bool = True
    email_normalization: bool = True
    optional_pluralization_normalization: bool = True  # "word(s)" -> "words"
    phone_normalization: bool = True
    replace_remaining_symbols: bool = True  # "&" -> "and", unspeakable symbols -> space
