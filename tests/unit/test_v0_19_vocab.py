"""The v0.19 symbol table, rebuilt from its published construction, equals the real vocab.json."""
import json

from api.src.builds.v0_19.vocab import SYMBOLS, VOCAB
from tests.support.references import SHARED, requires_shared


def test_table_shape():
    assert len(SYMBOLS) == 178
    assert VOCAB["$"] == 0 and VOCAB["A"] == 17 and VOCAB["'"] == 176
    assert len(VOCAB) == 177  # the apostrophe appears twice; the later index wins
    assert max(VOCAB.values()) == 177


@requires_shared
def test_equals_real_vocab():
    real = json.loads((SHARED / "models" / "v0_19" / "vocab.json").read_text(encoding="utf-8"))
    assert VOCAB == real
