"""How a request is cut into chunks, seen through HTTP: a short first sentence takes the next one along
(FIRST_CHUNK_MIN_TOKENS), and later chunks ramp up (CHUNK_RAMP); both can be turned off."""
import io

import av
import httpx
import pytest

from tests.support.http_calls import metric
from tests.support.server import AppServer

DONE = 'kokoro_chunks_total{outcome="done"}'
REPLY = "Sure! Your parcel left the depot this morning and should reach you on Thursday."
LONG = " ".join(f"Paragraph {n} tells how the keeper of the lighthouse climbed its stairs at dusk."
                for n in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"))


def chunks_for(server, text: str, seed: int) -> int:
    """Chunks the server ran for one request (its audio decoded, so the request really completed)."""
    before = metric(server, DONE)
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                   json={"input": text, "voice": "af_heart", "response_format": "wav", "seed": seed})
    assert r.status_code == 200, r.text
    with av.open(io.BytesIO(r.content)) as container:
        assert sum(frame.samples for frame in container.decode(audio=0)) > 0
    return int(metric(server, DONE) - before)


@pytest.fixture(scope="module")
def unramped(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, first_chunk_min_tokens=0, chunk_ramp=0).start()
    yield proc
    proc.stop()


def test_a_one_word_opening_is_spoken_with_the_next_sentence(server, unramped):
    assert chunks_for(server, REPLY, seed=101) == 1
    assert chunks_for(unramped, REPLY, seed=101) == 2   # "Sure!" alone, then the rest


def test_later_chunks_ramp_up(server, unramped):
    ramped, flat = chunks_for(server, LONG, seed=102), chunks_for(unramped, LONG, seed=102)
    assert ramped > flat >= 2


def test_bad_chunk_settings_stop_start_up(v1_model_dir):
    with pytest.raises(ValueError, match="CHUNK_RAMP"):
        AppServer(v1_model_dir, model_free=True, chunk_ramp=0.5).start(timeout=60)
