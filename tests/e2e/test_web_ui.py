"""The web UI at /web, driven in Debian's chromium by Playwright against the real server.

Playback goes through the Web Audio API in headless chromium (autoplay allowed by flag), which plays at
real-time pace: texts are kept short so the whole module stays within seconds of audio. Screenshots of
the desktop and phone layouts land in test-output/ (gitignored).
"""
import base64
import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.audio import EDGE_TOLERANCE, SAMPLE_RATE, decode
from tests.support.browser import chromium_path
from tests.support.paths import REPO_ROOT
from tests.support.server import AppServer

OUTPUT = REPO_ROOT / "test-output"
# Several sentences, so the server sends more than one chunk and playback can start before the end.
TEXT = "The quick brown fox jumps. It lands softly on the grass. Then it runs away into the woods. Birds sing."


# A mark, not a skip inside a fixture: the skip must come before the session's server is started.
_skip_without_chromium = pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium is not installed (apt-get install chromium; scripts/install.sh --test does it)")


def needs_chromium(test):
    """Marks ``test`` browser, and skips it where chromium is absent."""
    return pytest.mark.browser(_skip_without_chromium(test))


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True,
                                             args=["--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def open_ui(page, server):
    page.goto(server.url + "/web")   # the redirect to /web/ must happen for the scripts to load
    assert page.url == server.url + "/web/"
    page.wait_for_selector("#voice-list button[data-voice]")


def server_error_message(server, body) -> str:
    r = httpx.post(server.url + "/v1/audio/speech", json=body, timeout=60)
    assert r.status_code >= 400
    return r.json()["error"]["message"]


def play_until_done(page, timeout_s=90):
    """Clicks play, samples the player while it plays, and returns what was seen."""
    page.click("#play")
    page.wait_for_selector("#player[data-state=playing]", timeout=timeout_s * 1000)
    positions = []
    deadline = time.monotonic() + timeout_s
    while page.get_attribute("#player", "data-state") == "playing" and time.monotonic() < deadline:
        positions.append(float(page.get_attribute("#player", "data-position") or 0))
        page.wait_for_timeout(100)
    page.wait_for_selector("#player[data-state=done]", timeout=5000)
    player = page.locator("#player")
    return {"positions": positions, "bytes": int(player.get_attribute("data-bytes")),
            "bytes_at_start": int(player.get_attribute("data-bytes-at-start")),
            "captions": player.get_attribute("data-captions"),
            "final_position": float(player.get_attribute("data-position"))}


def download(page, fmt, name):
    page.select_option("#format", fmt)
    with page.expect_download(timeout=60_000) as info:
        page.click("#download")
    path = OUTPUT / name
    info.value.save_as(path)
    assert info.value.suggested_filename == f"speech.{fmt}"
    return decode(path.read_bytes(), fmt)


@needs_chromium
def test_synthesize_stream_play_and_download(page, server):
    OUTPUT.mkdir(exist_ok=True)
    open_ui(page, server)
    models = page.eval_on_selector_all("#model option", "os => os.map(o => o.value)")
    assert models == ["kokoro-v1_0", "kokoro-v0_19"]
    assert page.input_value("#model") == "kokoro-v1_0"
    assert page.input_value("#voice") == "af_heart"

    # Search, then mix two voices with weights.
    page.fill("#voice-search", "bel")
    assert page.eval_on_selector_all("#voice-list button", "bs => bs.map(b => b.textContent)") == ["af_bella"]
    page.click("#voice-list button[data-voice=af_bella]")
    page.fill("#mix input[aria-label='weight of af_heart']", "2")
    assert page.input_value("#voice") == "af_heart(2)+af_bella(1)"

    page.fill("#text", TEXT)
    assert page.text_content("#char-count") == str(len(TEXT))
    page.fill("#speed", "1.5")   # a range input: fill sets it and fires `input`
    assert page.text_content("#speed-value") == "1.50×"

    seen = play_until_done(page)
    assert page.is_hidden("#error")
    # Streamed: sound started with the first piece, long before the body was complete.
    assert 0 < seen["bytes_at_start"] < seen["bytes"]
    audio_s = seen["bytes"] / 2 / SAMPLE_RATE
    assert audio_s > 1.0
    # Played: the clock of what was heard advanced while playing and reached the end.
    assert any(0 < p for p in seen["positions"]) and seen["positions"] == sorted(seen["positions"])
    assert seen["final_position"] == pytest.approx(audio_s, abs=0.01)
    captions_here = httpx.post(server.url + "/dev/captioned_speech", json={}, timeout=10).status_code != 404
    assert seen["captions"] == ("on" if captions_here else "off")
    page.screenshot(path=OUTPUT / "web-ui-desktop.png", full_page=True)

    # Downloads: wav from the played PCM itself; mp3 made by the server from the same request and seed.
    wav = download(page, "wav", "web-ui-download.wav")
    assert (wav.codec, wav.sample_rate, wav.channels) == ("pcm_s16le", SAMPLE_RATE, 1)
    assert wav.duration == pytest.approx(audio_s, abs=1 / SAMPLE_RATE)
    mp3 = download(page, "mp3", "web-ui-download.mp3")
    assert mp3.codec in {"mp3", "mp3float"} and mp3.sample_rate == SAMPLE_RATE and mp3.channels == 1
    assert mp3.duration == pytest.approx(audio_s, abs=EDGE_TOLERANCE["mp3"])


@needs_chromium
def test_other_model_lists_its_own_voices(page, server):
    open_ui(page, server)
    page.click("#voice-list button[data-voice=af_bella]")
    page.select_option("#model", "kokoro-v0_19")
    page.wait_for_selector("#voice-list button[data-voice=af_nicole]")
    voices = page.eval_on_selector_all("#voice-list button", "bs => bs.map(b => b.dataset.voice)")
    assert "af_heart" not in voices and "af" in voices
    assert page.input_value("#voice") == "af_bella"   # kept: v0.19 has it too


@needs_chromium
def test_stop_cancels_and_play_again(page, server):
    open_ui(page, server)
    page.fill("#text", "A long text that takes a while to speak. " * 40)
    page.click("#play")
    page.wait_for_selector("#player[data-state=playing]")
    page.click("#stop")
    page.wait_for_selector("#player[data-state=stopped]")
    assert page.is_enabled("#play") and page.is_disabled("#stop") and page.is_disabled("#download")
    assert page.text_content("#status") == "Stopped." and page.is_hidden("#error")
    page.fill("#text", "Short.")
    play_until_done(page)
    assert page.is_hidden("#error") and page.is_enabled("#download")


@needs_chromium
@pytest.mark.parametrize("field, value", [("#voice", "zz_nobody"), ("#text", "")])
def test_server_errors_are_shown_as_written(page, server, field, value):
    open_ui(page, server)
    page.fill("#text", "Hello there.")
    page.fill(field, value)
    expected = server_error_message(server, {
        "model": "kokoro-v1_0", "input": page.input_value("#text"), "voice": page.input_value("#voice"),
        "speed": 1, "response_format": "pcm"})
    page.click("#play")
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error") == expected
    assert page.get_attribute("#player", "data-state") == "error"
    assert page.is_disabled("#download")


@needs_chromium
@pytest.mark.parametrize("streamed", [True, False], ids=["ndjson", "json"])
def test_word_highlighting_from_captions(page, server, streamed):
    """The UI against /dev/captioned_speech's contract: NDJSON lines of base64 audio + word timings
    when streamed, else one JSON object.

    The route is answered inside the browser with real audio from the server, so this checks the page's
    side of the contract whether or not this server has the endpoint.
    """
    text = "Alpha beta gamma delta."
    pcm = httpx.post(server.url + "/v1/audio/speech", timeout=60, json={
        "input": text, "voice": "af_heart", "response_format": "pcm", "seed": 7}).content
    seconds = len(pcm) / 2 / SAMPLE_RATE
    words, step = [], seconds / 4
    for word in ("Alpha", "beta", "gamma", "delta"):
        start = text.index(word)
        words.append({"word": word, "start_time": len(words) * step, "end_time": (len(words) + 1) * step,
                      "text_start": start, "text_end": start + len(word)})
    half = len(pcm) // 2 + 1   # an odd split: the player must carry the stray byte over
    lines = [{"audio": base64.b64encode(pcm[:half]).decode(), "timestamps": words[:2]},
             {"audio": base64.b64encode(pcm[half:]).decode(), "timestamps": words[2:]}]
    sent = []

    def answer(route):
        sent.append(route.request.post_data_json)
        if streamed:
            route.fulfill(status=200, content_type="application/x-ndjson",
                          body="".join(json.dumps(line) + "\n" for line in lines))
        else:
            route.fulfill(status=200, json={"audio": base64.b64encode(pcm).decode(), "timestamps": words})

    page.route("**/dev/captioned_speech", answer)
    open_ui(page, server)
    # Every word that gets the highlight, in order, recorded by the page itself (no polling races).
    page.evaluate("""() => {
        window.highlighted = [];
        new MutationObserver((records) => {
            for (const r of records) {
                if (r.target.classList && r.target.classList.contains("current")) window.highlighted.push(r.target.textContent);
            }
        }).observe(document.getElementById("transcript"), {subtree: true, attributes: true, attributeFilter: ["class"]});
    }""")
    page.fill("#text", text)
    page.click("#play")
    page.wait_for_selector("#player[data-state=done]", timeout=60_000)
    highlighted = page.evaluate("window.highlighted")
    assert sent[0]["input"] == text and sent[0]["response_format"] == "pcm" and sent[0]["stream"] is True
    assert page.get_attribute("#player", "data-captions") == "on"
    assert int(page.get_attribute("#player", "data-bytes")) == len(pcm)
    assert highlighted == ["Alpha", "beta", "gamma", "delta"]
    assert page.locator("#transcript .word.current").count() == 0   # the end is past the last word
    assert page.eval_on_selector_all("#transcript .word", "ws => ws.map(w => w.textContent)") == \
        ["Alpha", "beta", "gamma", "delta"]


@needs_chromium
def test_phone_layout(browser, server):
    OUTPUT.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    try:
        page = context.new_page()
        open_ui(page, server)
        # Nothing wider than the screen: no sideways scrolling, every control reachable.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for selector in ("#text", "#model", "#format", "#speed", "#voice-search", "#voice", "#play", "#download"):
            box = page.locator(selector).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
        page.screenshot(path=OUTPUT / "web-ui-phone.png", full_page=True)
    finally:
        context.close()


# Kokoro v1.0's voices (the test model has only a few), plus one id whose prefix no language has.
KOKORO_VOICES = (
    "af_alloy af_aoede af_bella af_heart af_jessica af_kore af_nicole af_nova af_river af_sarah af_sky "
    "am_adam am_echo am_eric am_fenrir am_liam am_michael am_onyx am_puck am_santa "
    "bf_alice bf_emma bf_isabella bf_lily bm_daniel bm_fable bm_george bm_lewis ef_dora em_alex em_santa "
    "ff_siwis hf_alpha hf_beta hm_omega hm_psi if_sara im_nicola "
    "jf_alpha jf_gongitsune jf_nezumi jf_tebukuro jm_kumo pf_dora pm_alex pm_santa "
    "zf_xiaobei zf_xiaoni zf_xiaoxiao zf_xiaoyi zm_yunjian zm_yunxi zm_yunxia zm_yunyang xx_custom").split()
LANGUAGES = {"a": "American English", "b": "British English", "e": "Spanish", "f": "French", "h": "Hindi",
             "i": "Italian", "j": "Japanese", "p": "Brazilian Portuguese", "z": "Mandarin Chinese"}
VIEWPORTS = {"laptop": {"viewport": {"width": 1280, "height": 800}},
             "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
                       "device_scale_factor": 2}}


def expected_groups(ids):
    groups = {}
    for lang, label in LANGUAGES.items():
        for gender, word in (("f", "female"), ("m", "male")):
            members = sorted(v for v in ids if v.startswith(lang + gender + "_"))
            if members:
                groups[f"{label} · {word}"] = members
    other = [v for v in ids if v[:1] not in LANGUAGES]
    return {**groups, **({"Other": other} if other else {})}


def shown_groups(page):
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#voice-list .voice-group')]
        .map(g => [g.dataset.group, [...g.querySelectorAll('button[data-voice]')].map(b => b.dataset.voice)]))""")


@pytest.fixture(params=sorted(VIEWPORTS))
def device_page(request, browser):
    """A page at the laptop or phone size; yields (name, page)."""
    context = browser.new_context(**VIEWPORTS[request.param])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield request.param, page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@needs_chromium
def test_voice_picker_groups_every_voice(device_page, server):
    device, page = device_page
    OUTPUT.mkdir(exist_ok=True)
    page.route("**/v1/audio/voices*", lambda route: route.fulfill(json={"voices": KOKORO_VOICES}))
    open_ui(page, server)
    groups = shown_groups(page)
    assert groups == expected_groups(KOKORO_VOICES)
    assert list(groups)[:2] == ["American English · female", "American English · male"]
    assert list(groups)[-1] == "Other"
    # Every chip is drawn: nothing in the picker scrolls inside itself or clips its chips.
    clipped = page.evaluate("""() => [document.getElementById('voice-list'), ...document.querySelectorAll('#voice-list *')]
        .filter(e => getComputedStyle(e).overflowY !== 'visible' && e.scrollHeight > e.clientHeight + 1)
        .map(e => e.id || e.className || e.tagName)""")
    assert clipped == []
    width = VIEWPORTS[device]["viewport"]["width"]
    for box in page.locator("#voice-list button[data-voice]").evaluate_all(
            "bs => bs.map(b => b.getBoundingClientRect().toJSON())"):
        assert box["width"] > 0 and box["height"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width
    # The human name is shown before the id; the id stays the chip's text (what the voice field takes).
    heart = page.locator("#voice-list button[data-voice=af_heart]")
    assert heart.text_content() == "af_heart" and heart.get_attribute("title") == "Heart, American English, female"
    assert heart.evaluate("b => getComputedStyle(b, '::before').content") == '"Heart "'
    page.screenshot(path=OUTPUT / f"web-ui-voices-{device}.png", full_page=True)

    # The search narrows by language words, gender (whole word: "male" is not "female"), name and id.
    page.fill("#voice-search", "japanese")
    assert shown_groups(page) == {"Japanese · female": ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro"],
                                  "Japanese · male": ["jm_kumo"]}
    page.fill("#voice-search", "mandarin male")
    assert shown_groups(page) == {"Mandarin Chinese · male": ["zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang"]}
    page.fill("#voice-search", "Heart")
    assert shown_groups(page) == {"American English · female": ["af_heart"]}
    page.fill("#voice-search", "custom")
    assert shown_groups(page) == {"Other": ["xx_custom"]}
    page.fill("#voice-search", "nobody at all")
    assert shown_groups(page) == {} and page.text_content("#voice-list") == "no voice matches"

    # A mix across a search still works as before.
    page.fill("#voice-search", "siwis")
    page.click("#voice-list button[data-voice=ff_siwis]")
    assert page.input_value("#voice") == "af_heart(1)+ff_siwis(1)"
    assert page.get_attribute("#voice-list button[data-voice=ff_siwis]", "aria-pressed") == "true"


def in_viewport(page, selector):
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] \
        and box["x"] >= 0 and box["x"] + box["width"] <= size["width"]


@needs_chromium
def test_controls_stay_in_view_with_a_long_text(device_page, server):
    device, page = device_page
    OUTPUT.mkdir(exist_ok=True)
    open_ui(page, server)
    page.fill("#text", "A long text that takes a while to speak, read out line after line.\n" * 150)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height > 3 * page.viewport_size["height"]   # the text box grew: the page scrolls
    page.click("#play")
    page.wait_for_selector("#player[data-state=playing]")
    height = page.evaluate("document.documentElement.scrollHeight")   # with the transcript, if shown
    for where in (0, height // 2, height):
        page.evaluate(f"window.scrollTo(0, {where})")
        page.wait_for_timeout(50)
        for selector in ("#play", "#stop", "#download", "#progress"):
            assert in_viewport(page, selector), (where, selector)
        if where == height // 2:
            page.screenshot(path=OUTPUT / f"web-ui-long-text-{device}.png")
    page.click("#stop")
    page.wait_for_selector("#player[data-state=stopped]")


@needs_chromium
def test_progress_resets_after_an_error(page, server):
    open_ui(page, server)
    page.fill("#text", "Short.")
    play_until_done(page)
    assert float(page.get_attribute("#progress", "value") or 0) > 0
    page.fill("#voice", "zz_nobody")
    page.click("#play")
    page.wait_for_selector("#error:not([hidden])")
    assert page.get_attribute("#player", "data-state") == "error"
    assert page.evaluate("document.getElementById('progress').value") == 0
    assert page.text_content("#time") == "0.0 s"


@needs_chromium
@pytest.mark.parametrize("failure", ["500", "network"])
def test_failed_voice_list_is_one_short_message(page, server, failure):
    def fail(route):
        if failure == "network":
            route.abort("connectionrefused")
        else:
            route.fulfill(status=500, content_type="text/plain",
                          body="Traceback (most recent call last):\n  File \"voices.py\", line 1\nKeyError: 'x'")

    page.route("**/v1/audio/voices*", fail)
    page.goto(server.url + "/web/")
    page.wait_for_selector("#error:not([hidden])")
    expected = ("Cannot reach the server to load the voice list." if failure == "network"
                else "Could not load the voice list; try again in a moment.")
    assert page.text_content("#error") == expected
    assert page.locator("#voice-list button").count() == 0
    assert page.is_hidden("#auth") and page.is_hidden("#key-toggle")


@needs_chromium
def test_no_key_field_when_the_server_needs_none(page, server):
    open_ui(page, server)
    assert page.is_hidden("#key-toggle") and page.is_hidden("#auth") and page.is_hidden("#api-key")
    assert page.is_hidden("#error")


@pytest.fixture(scope="module")
def locked(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, api_keys="web-key").start()
    yield proc
    proc.stop()


@needs_chromium
def test_api_key_entered_in_the_page(page, locked):
    assert httpx.get(locked.url + "/web/app.js").status_code == 200   # the page itself needs no key...
    assert httpx.get(locked.url + "/webhook").status_code == 401     # ...and only the page
    page.goto(locked.url + "/web")
    page.wait_for_selector("#error:not([hidden])")
    assert "API key" in page.text_content("#error")
    assert page.is_visible("#api-key")
    assert page.is_visible("#key-toggle")
    page.fill("#api-key", "web-key")
    page.click("#key-save")
    page.wait_for_selector("#voice-list button[data-voice=af_heart]")
    assert page.is_hidden("#error")
    page.reload()   # kept in the browser
    page.wait_for_selector("#voice-list button[data-voice=af_heart]")
    assert page.is_visible("#key-toggle") and page.is_hidden("#auth")   # a stored key can be changed


@needs_chromium
def test_wrong_stored_key_is_named(page, locked):
    page.goto(locked.url + "/web/")
    page.evaluate("localStorage.setItem('kokoro.apiKey', 'wrong')")
    page.reload()
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error") == "The server did not accept this API key: check it above."
    assert page.is_visible("#api-key")


def test_web_ui_setting():
    from api.src.core.config import Settings
    from api.src.main import create_app

    for enabled, status in ((True, 200), (False, 404)):
        # No lifespan (no `with`): nothing is loaded; only the routes are looked at.
        client = TestClient(create_app(Settings(enable_web_ui=enabled)))
        r = client.get("/web/")
        assert r.status_code == status
        if enabled:
            assert '<script type="module" src="app.js">' in r.text
            assert client.get("/web/app.js").headers["content-type"].startswith("text/javascript")
        else:
            assert r.json()["error"]["message"]
