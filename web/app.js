// Wires the page: models and voices from the server, the voice mix, streamed playback, download.
import { ApiError, apiFetch, storedKey, storeKey } from "./api.js";
import { saveBlob, wavHeader } from "./download.js";
import { LiveSpeech } from "./live.js";
import { mixString, parseMix } from "./mix.js";
import { PcmStreamPlayer } from "./pcm-player.js";
import { readCaptioned, readRaw } from "./stream.js";
import { Transcript } from "./transcript.js";
import { groupVoices } from "./voices.js";

const $ = (id) => document.getElementById(id);
const ui = Object.fromEntries([
  "text", "char-count", "model", "format", "speed", "speed-value", "voice-search", "voice-list", "mix", "voice",
  "play", "stop", "download", "player", "progress", "time", "status", "error", "transcript", "auth", "api-key",
  "key-save", "key-toggle", "live", "live-hint",
].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), $(id)]));

const transcript = new Transcript(ui.transcript);
let voices = [];
let mixRows = [];
// /dev/captioned_speech gives word timings; a server without it answers 404 and we stop asking.
let captions = "unknown";
let session = null; // the current (or last finished) playback; `live` while speaking as the user types
// Speak as I type: the box's text up to here has been sent (or was there before and is not spoken).
let liveMode = false;
let liveSent = "";
let liveEpoch = 0;      // bumped when the transcript restarts: words of older utterances no longer fit it
let liveFailed = false; // an error in this run of speech
let liveNote = "";      // why the last utterance ended early (an edit), shown until the next key press

// ---- messages -------------------------------------------------------------------------------

function showError(err) {
  ui.error.textContent = err.message;
  ui.error.hidden = false;
  if (err instanceof ApiError && err.status === 401) openAuth();
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

function setStatus(text) { ui.status.textContent = text; }

/** Shows the key field: only once the server has asked for a key (a 401), or a key is already stored. */
function openAuth() {
  ui.keyToggle.hidden = false;
  ui.auth.hidden = false;
  ui.apiKey.focus();
}

/**
 * A failed load of a list (`what`: "model list", "voice list") as one short sentence for people; the
 * server's own text stays in the console. A 401 keeps its status, so the key field opens.
 */
function loadFailure(what, err) {
  console.warn(`loading the ${what} failed:`, err);
  if (err instanceof ApiError && err.status === 401) {
    return new ApiError(401, storedKey() ? "The server did not accept this API key: check it above."
                                         : "This server needs an API key: enter it above.");
  }
  if (err instanceof ApiError && err.status === 0) return new ApiError(0, `Cannot reach the server to load the ${what}.`);
  return new ApiError(err.status || 0, `Could not load the ${what}; try again in a moment.`);
}

// ---- models and voices -----------------------------------------------------------------------

/** One entry per model version, named by its versioned id (kokoro-v1_0), the default version selected. */
async function loadModels() {
  let data;
  try {
    ({ data } = await (await apiFetch("/v1/models")).json());
  } catch (err) {
    throw loadFailure("model list", err);
  }
  const defaultVersion = (data.find((m) => m.id === "kokoro") || data[0] || {}).version;
  const byVersion = new Map();
  for (const card of data) {
    const best = byVersion.get(card.version);
    if (!best || card.id === `kokoro-${card.version}`) byVersion.set(card.version, card);
  }
  const previous = ui.model.value;
  ui.model.replaceChildren(...[...byVersion.values()].map((card) => {
    const state = card.state && card.state !== "ready" ? ` (${card.state.replaceAll("_", " ")})` : "";
    const option = new Option(`${card.id}${state}`, card.id);
    option.selected = previous ? card.id === previous : card.version === defaultVersion;
    return option;
  }));
}

async function loadVoices() {
  const model = encodeURIComponent(ui.model.value);
  let list;
  try {
    ({ voices: list } = await (await apiFetch(`/v1/audio/voices?model=${model}`)).json());
  } catch (err) {
    throw loadFailure("voice list", err);
  }
  voices = list.map((v) => (typeof v === "string" ? v : v.id));
  const kept = mixRows.filter((r) => voices.includes(r.name));
  if (kept.length) {
    setMix(kept);
  } else {
    const fallback = voices.includes("af_heart") ? "af_heart" : voices[0];
    setMix(fallback ? [{ name: fallback, weight: 1 }] : []);
  }
  renderVoiceList();
}

/** The voices matching the search, one group per language and gender, every chip shown (no inner scroll). */
function renderVoiceList() {
  const groups = groupVoices(voices, ui.voiceSearch.value.trim());
  ui.voiceList.replaceChildren(...groups.map(({ label, voices: members }) => {
    const group = Object.assign(document.createElement("li"), { className: "voice-group" });
    group.dataset.group = label;
    const heading = Object.assign(document.createElement("h3"), { textContent: label });
    heading.append(Object.assign(document.createElement("small"), { textContent: ` ${members.length}` }));
    const chips = Object.assign(document.createElement("ul"), { className: "chips" });
    chips.append(...members.map((voice) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = voice.id;
      button.dataset.voice = voice.id;
      if (voice.name) button.dataset.name = voice.name;   // shown before the id by the stylesheet
      button.title = [voice.name, voice.language, voice.gender].filter(Boolean).join(", ");
      button.setAttribute("aria-pressed", String(mixRows.some((r) => r.name === voice.id)));
      button.addEventListener("click", () => addVoice(voice.id));
      li.append(button);
      return li;
    }));
    group.append(heading, chips);
    return group;
  }));
  if (!groups.length) ui.voiceList.append(Object.assign(document.createElement("li"), { textContent: "no voice matches" }));
}

function addVoice(name) {
  if (mixRows.some((r) => r.name === name)) return;
  setMix([...mixRows, { name, weight: 1 }]);
}

/** Replaces the mix; `fromText` keeps the voice field as the user typed it. */
function setMix(rows, fromText = false) {
  mixRows = rows;
  choicesChanged();
  if (!fromText) ui.voice.value = mixString(rows);
  renderMix();
}

function renderMix() {
  for (const button of ui.voiceList.querySelectorAll("button[data-voice]")) {
    button.setAttribute("aria-pressed", String(mixRows.some((r) => r.name === button.dataset.voice)));
  }
  ui.mix.replaceChildren(...mixRows.map((row, index) => {
    const li = document.createElement("li");
    const name = Object.assign(document.createElement("span"), { className: "name", textContent: row.name });
    const weight = Object.assign(document.createElement("input"), {
      type: "number", min: "0.05", step: "0.5", value: String(row.weight), title: `weight of ${row.name}`,
    });
    weight.setAttribute("aria-label", `weight of ${row.name}`);
    weight.addEventListener("input", () => {
      const value = Number(weight.value);
      if (value > 0) setMixWeight(index, value);
    });
    const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "✕" });
    remove.setAttribute("aria-label", `remove ${row.name}`);
    remove.addEventListener("click", () => setMix(mixRows.filter((_, i) => i !== index)));
    li.append(name, weight, remove);
    return li;
  }));
}

function setMixWeight(index, value) {
  mixRows[index] = { ...mixRows[index], weight: value };
  choicesChanged();
  ui.voice.value = mixString(mixRows);
}

// ---- playback ----------------------------------------------------------------------------------

function setState(state) {
  ui.player.dataset.state = state;
  const busy = state === "loading" || state === "playing";
  // Speaking as the user types, ▶ speaks the rest of the utterance being typed.
  ui.play.disabled = liveMode ? !live.typing : busy;
  ui.stop.disabled = !busy;
  ui.download.disabled = !(session && session.complete) || busy;
}

async function openStream(request, signal) {
  const body = { ...request, response_format: "pcm", stream: true };
  if (captions !== "unavailable") {
    try {
      const response = await apiFetch("/dev/captioned_speech", { json: body, signal });
      captions = "available";
      return { response, captioned: true };
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      captions = "unavailable";
    }
  }
  return { response: await apiFetch("/v1/audio/speech", { json: body, signal }), captioned: false };
}

function tick() {
  const s = session;
  if (!s || s.player.closed) return;
  const position = s.player.position;
  const duration = s.player.duration;
  ui.progress.max = Math.max(duration, 0.001);
  ui.progress.value = position;
  ui.time.textContent = `${position.toFixed(1)} / ${duration.toFixed(1)} s`;
  ui.player.dataset.position = position.toFixed(3);
  transcript.highlight(position);
  if (ui.player.dataset.state === "playing" || ui.player.dataset.state === "loading") requestAnimationFrame(tick);
}

function resetProgress() {
  ui.progress.max = 1;
  ui.progress.value = 0;
  ui.time.textContent = "0.0 s";
  ui.player.dataset.position = "0";
}

function stopPlayback() {
  if (!session) return;
  if (session === live) {
    live.cancel();
    setState("stopped");
    setStatus("Stopped.");
    return;
  }
  session.stopped = true;
  session.controller.abort();
  session.player.stop();
  // The whole answer had arrived (a fast server): no aborted read will say it stopped, so say it here.
  if (session.complete) {
    setState("stopped");
    setStatus("Stopped.");
  }
}

async function play() {
  if (liveMode) {
    speakRest();
    return;
  }
  clearError();
  stopPlayback();
  const text = ui.text.value;
  const request = {
    model: ui.model.value,
    input: text,
    voice: ui.voice.value.trim(),
    speed: Number(ui.speed.value),
    // Download asks the server again for another format: the same seed gives the same audio.
    seed: Math.floor(Math.random() * 2 ** 31),
  };
  const s = { controller: new AbortController(), player: new PcmStreamPlayer(), request, pcm: [], bytes: 0,
              complete: false, stopped: false };
  session = s;
  transcript.reset(text);
  Object.assign(ui.player.dataset, { position: "0", bytes: "0", bytesAtStart: "", captions: "" });
  setState("loading");
  setStatus("Generating…");
  const onBytes = (bytes) => {
    s.pcm.push(bytes);
    s.bytes += bytes.length;
    s.player.push(bytes);
    ui.player.dataset.bytes = String(s.bytes);
    if (!ui.player.dataset.bytesAtStart && s.player.started) {
      // Recorded so that one can see playback began before the body was complete.
      ui.player.dataset.bytesAtStart = String(s.bytes);
      setState("playing");
      setStatus("Playing while the rest is generated…");
    }
  };
  try {
    const { response, captioned } = await openStream(request, s.controller.signal);
    const seed = Number(response.headers.get("X-Seed"));
    if (Number.isSafeInteger(seed)) request.seed = seed;
    ui.player.dataset.captions = captioned ? "on" : "off";
    requestAnimationFrame(tick);
    try {
      if (captioned) await readCaptioned(response, onBytes, (words) => transcript.addWords(words));
      else await readRaw(response, onBytes);
    } catch (err) {
      if (err.name === "AbortError" || err instanceof ApiError) throw err;
      // The server aborts the connection when a request fails after audio was sent (never a clean end).
      throw new ApiError(0, `the audio stream broke off before the end (${err.message})`);
    }
    s.complete = true;
    ui.player.dataset.bytes = String(s.bytes);
    setStatus(`Generated ${s.player.duration.toFixed(1)} s of audio${captioned ? "" : " (no word timings on this server)"}; playing…`);
    await s.player.finished();
    if (session !== s || s.stopped) return;
    setState("done");
    tick();
    setStatus(`Done: ${s.player.duration.toFixed(1)} s of audio.`);
  } catch (err) {
    if (session !== s) return;
    s.player.stop();
    if (err.name === "AbortError") {
      setState(s.complete ? "done" : "stopped");
      setStatus("Stopped.");
      return;
    }
    setState("error");
    resetProgress();
    setStatus("");
    showError(err);
  }
}

async function download() {
  const s = session;
  if (!s || !s.complete) return;
  const format = ui.format.value;
  clearError();
  try {
    if (format === "pcm") {
      saveBlob(new Blob(s.pcm, { type: "application/octet-stream" }), "speech.pcm");
    } else if (format === "wav") {
      saveBlob(new Blob([wavHeader(s.bytes), ...s.pcm], { type: "audio/wav" }), "speech.wav");
    } else {
      ui.download.disabled = true;
      setStatus(`Preparing ${format}…`);
      const response = await apiFetch("/v1/audio/speech", { json: { ...s.request, response_format: format, stream: false } });
      saveBlob(await response.blob(), `speech.${format}`);
      setStatus(`Saved speech.${format}.`);
    }
  } catch (err) {
    showError(err);
  } finally {
    ui.download.disabled = !(session && session.complete);
  }
}

// ---- speak as I type --------------------------------------------------------------------------

const BLOCKED = "What you type now is not sent: change the voice, model or speed, or turn the mode off and on.";

const live = new LiveSpeech({
  run() {
    if (session && session !== live) stopPlayback();
    session = live;
    liveFailed = false;
    clearError();
    Object.assign(ui.player.dataset, { position: "0", bytes: "0", bytesAtStart: "", captions: "live" });
    setState("loading");
    setStatus("Sending what you type…");
  },
  audio(bytes) {
    if (session !== live) return;
    const total = Number(ui.player.dataset.bytes || 0) + bytes.length;
    ui.player.dataset.bytes = String(total);
    if (ui.player.dataset.state !== "playing") {
      if (!ui.player.dataset.bytesAtStart) ui.player.dataset.bytesAtStart = String(total);
      setState("playing");
      setStatus(liveNote || (live.typing ? "Speaking while you type…" : "Speaking…"));
      requestAnimationFrame(tick);
    }
  },
  words(words, meta) {
    if (meta.epoch === liveEpoch) transcript.addWords(words);
  },
  error(err) {
    liveFailed = true;
    showError(err);
  },
  idle() {
    if (session !== live) return;
    tick();
    if (liveFailed) {
      setState("error");
      setStatus(live.blocked ? BLOCKED : "");
      return;
    }
    setState("done");
    setStatus(`Done: ${live.player.duration.toFixed(1)} s of audio.`);
  },
  change() { setState(ui.player.dataset.state); },
});

/** The typed text: what was added at the end is sent; any other change ends the utterance (see the hint). */
function liveInput() {
  const value = ui.text.value;
  if (value.startsWith(liveSent)) {
    const added = value.slice(liveSent.length);
    if (!added) return;
    const textOffset = liveSent.length;
    liveSent = value;
    liveNote = "";
    if (live.blocked) {
      setStatus(BLOCKED);
      return;
    }
    transcript.extend(value);
    live.append(added, { model: ui.model.value, voice: ui.voice.value.trim(), speed: Number(ui.speed.value) },
                { textOffset, epoch: liveEpoch });
    return;
  }
  // Text already sent was changed or deleted: the server cannot take it back. It is spoken as it was
  // sent, and what is typed next starts a new utterance (a new context) at the end of the box.
  const wasTyping = live.typing;
  live.end();
  liveSent = value;
  liveEpoch++;
  transcript.reset(value);
  if (wasTyping) {
    liveNote = "Changed text that was already sent: it is spoken as sent; what you type next is a new utterance.";
    setStatus(liveNote);
  }
}

function speakRest() {
  if (!live.typing) return;
  live.end();
  setStatus("Speaking the rest…");
}

function setLiveMode(on) {
  liveMode = on;
  ui.live.checked = on;
  ui.liveHint.hidden = !on;
  ui.play.textContent = on ? "▶ Speak the rest" : "▶ Play";
  if (on) {
    liveSent = ui.text.value; // not spoken: only what is typed from now on
    liveEpoch++;
    live.unblock();
    clearError();
    setStatus("Speak as I type: type at the end of the text.");
  } else {
    live.finish();
  }
  setState(ui.player.dataset.state);
}

/** A new voice, model or speed: the next utterance uses it, and typing after an error is sent again. */
function choicesChanged() {
  live.unblock();
}

// ---- wiring ------------------------------------------------------------------------------------

function updateCount() {
  const count = [...ui.text.value].length; // code points, as the server counts them
  ui.charCount.textContent = count.toLocaleString();
}

/** The text box grows with its text (the page scrolls; the controls stay in view). */
function fitText() {
  ui.text.style.height = "auto";
  ui.text.style.height = `${ui.text.scrollHeight + 2}px`;
}

function updateSpeed() { ui.speedValue.textContent = `${Number(ui.speed.value).toFixed(2)}×`; }

async function loadAll() {
  clearError();
  try {
    await loadModels();
    await loadVoices();
  } catch (err) {
    showError(err);
  }
}

ui.text.addEventListener("input", (e) => {
  updateCount();
  fitText();
  if (liveMode && !e.isComposing) liveInput();
});
ui.text.addEventListener("compositionend", () => { if (liveMode) liveInput(); });
ui.live.addEventListener("change", () => setLiveMode(ui.live.checked));
ui.text.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) play(); });
ui.speed.addEventListener("input", () => { updateSpeed(); choicesChanged(); });
ui.model.addEventListener("change", () => { choicesChanged(); loadVoices().catch(showError); });
ui.voiceSearch.addEventListener("input", renderVoiceList);
ui.voice.addEventListener("input", () => {
  const rows = parseMix(ui.voice.value);
  setMix(rows || [], true);
});
ui.play.addEventListener("click", play);
ui.stop.addEventListener("click", stopPlayback);
ui.download.addEventListener("click", download);
ui.keyToggle.addEventListener("click", () => { ui.auth.hidden ? openAuth() : (ui.auth.hidden = true); });
ui.keySave.addEventListener("click", () => { storeKey(ui.apiKey.value.trim()); live.unblock(); loadAll(); });
ui.apiKey.addEventListener("keydown", (e) => { if (e.key === "Enter") ui.keySave.click(); });

ui.apiKey.value = storedKey();
ui.keyToggle.hidden = !ui.apiKey.value;
updateCount();
fitText();
updateSpeed();
setState("idle");
loadAll();
