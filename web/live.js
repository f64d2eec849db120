// "Speak as I type": text sent over WS /v1/audio/speech/stream while it is typed, its speech played as
// it arrives (docs/api.md has the protocol).
//
// One socket, opened on the first typed text and again after the server closed it. Each utterance is a
// context (ids live-1, live-2, …): `start` with the first text, a `text` message per typed piece, `end`
// when the rest must be spoken, `cancel` on Stop. The server speaks each sentence once it is complete
// (and what is buffered after a quiet gap). Several contexts can be speaking at once (an utterance ended
// by an edit while the next one starts); their audio is played one context after the other, in the order
// they were started, whatever order the server's messages come in.
import { ApiError, storedKey } from "./api.js";
import { PcmStreamPlayer } from "./pcm-player.js";

export const STREAM_PATH = "/v1/audio/speech/stream";
// A text message stays far below the server's STREAM_MAX_MESSAGE_BYTES (64 KiB) even when JSON escapes
// every character: a long paste goes as several messages.
const MAX_TEXT_PER_MESSAGE = 4096;

/** The socket's ws(s):// address on this page's server; a key goes in the query (a browser cannot set
 *  headers on a WebSocket). */
export function socketUrl(key = storedKey()) {
  const url = new URL(STREAM_PATH, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (key) url.searchParams.set("api_key", key);
  return url.href;
}

/** What a close code means for people (docs/api.md, "Close codes"). */
function closeMessage(code, reason, opened) {
  if (!opened) return `Could not open the streaming socket (${STREAM_PATH}); this server may not have it.`;
  const why = reason ? `: ${reason}` : "";
  if (code === 1008) return `The server refused the streaming socket${why}`;
  return `The streaming socket closed (code ${code})${why}`;
}

export class LiveSpeech {
  /**
   * on.run(player): a new player (a run of speech after a silence); on.audio(bytes, player): a piece of
   * audio went to the player; on.words(words, meta): word timings
   * of a context, times in seconds of the player's audio, text_start / text_end moved by meta.textOffset;
   * on.error(ApiError); on.idle(): every context is over and its audio has played; on.change(): `typing`
   * changed.
   */
  constructor(on) {
    this.on = on;
    this.ws = null;
    this.opened = false;
    this.outbox = [];
    this.contexts = new Map(); // id -> context, until the server says it is over
    this.queue = [];           // contexts whose audio is still to be played, in start order
    this.current = null;       // the context that typed text goes to
    this.expect = null;        // the `audio` message whose binary frame comes next
    this.player = null;
    this.count = 0;
    this.blockedUntil = 0;     // after an error: typing is not sent until then (Infinity: until unblock())
    this.closeWhenIdle = false;
  }

  /** Whether a context is open for typed text (▶ then ends it). */
  get typing() { return this.current !== null; }

  /** Whether text may be sent now (not after an error, until the choices change or the wait is over). */
  get blocked() { return Date.now() < this.blockedUntil; }

  unblock() { this.blockedUntil = 0; }

  /**
   * Sends typed text: opens a context with `request` (model, voice, speed) when none is open.
   * `meta.textOffset` is where the context's text starts in the text box (for word highlighting).
   */
  append(text, request, meta) {
    if (!text) return;
    this.closeWhenIdle = false;
    const pieces = [];
    for (let i = 0, j; i < text.length; i = j) {
      j = Math.min(i + MAX_TEXT_PER_MESSAGE, text.length);
      if (j < text.length && /[\uD800-\uDBFF]/.test(text[j - 1])) j++; // not between a surrogate pair
      pieces.push(text.slice(i, j));
    }
    if (!this.current) {
      if (!this.player || this.player.closed || (!this.queue.length && !this.player.sources.size)) {
        // Nothing is playing: a new run, on a fresh clock (position and duration from 0).
        if (this.player) this.player.stop();
        this.player = new PcmStreamPlayer();
        this.on.run(this.player);
      }
      const ctx = { id: `live-${++this.count}`, meta, pending: [], audioOffset: null, over: false };
      this.contexts.set(ctx.id, ctx);
      this.queue.push(ctx);
      this.current = ctx;
      this.send({ type: "start", context_id: ctx.id, ...request, response_format: "pcm", audio_encoding: "binary",
                  text: pieces.shift() });
      this.on.change();
    }
    for (const piece of pieces) this.send({ type: "text", context_id: this.current.id, text: piece });
  }

  /** No more text for the open context: the server speaks the rest. */
  end() {
    if (!this.current) return;
    this.send({ type: "end", context_id: this.current.id });
    this.current = null;
    this.on.change();
  }

  /** Stop: every context is cancelled and what is queued for the speakers is dropped. */
  cancel() {
    for (const ctx of this.contexts.values()) this.send({ type: "cancel", context_id: ctx.id });
    for (const ctx of this.queue) ctx.dropped = true; // its late audio and words are ignored
    this.queue = [];
    if (this.current) {
      this.current = null;
      this.on.change();
    }
    if (this.player) this.player.stop();
  }

  /** Leaving the mode: the open context is spoken to its end, then the socket is closed. */
  finish() {
    this.end();
    this.closeWhenIdle = true;
    if (!this.contexts.size) this.close();
  }

  close() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "done");
    this.ws = null;
  }

  // ---- the socket ----------------------------------------------------------------------------

  send(message) {
    if (!this.ws || this.ws.readyState > WebSocket.OPEN) this.connect();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
    else this.outbox.push(message);
  }

  connect() {
    const ws = new WebSocket(socketUrl());
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.opened = false;
    ws.onopen = () => {
      this.opened = true;
      for (const message of this.outbox.splice(0)) ws.send(JSON.stringify(message));
    };
    ws.onmessage = ({ data }) => {
      if (ws === this.ws) this.receive(data);
    };
    ws.onclose = ({ code, reason }) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.outbox = [];
      this.expect = null;
      const lost = [...this.contexts.values()].filter((ctx) => !ctx.dropped);
      this.contexts.clear();
      // 4000: idle, nothing of ours left to speak; the next text opens a new socket.
      if (code !== 4000 && (lost.length || code !== 1000)) {
        // Not retried on every key press: typing is sent again after unblock() (new choices, the mode
        // turned off and on) or a fresh key.
        this.blockedUntil = Infinity;
        this.on.error(new ApiError(code === 1008 ? 401 : 0, closeMessage(code, reason, this.opened)));
      }
      for (const ctx of lost) this.over(ctx);
      if (this.current) {
        this.current = null;
        this.on.change();
      }
    };
  }

  receive(data) {
    if (typeof data !== "string") {
      const header = this.expect;
      this.expect = null;
      if (header) this.deliver(header.ctx, new Uint8Array(data), header.words);
      return;
    }
    if (this.expect) { // an `audio` message without its binary frame (no bytes): keep its words
      this.deliver(this.expect.ctx, null, this.expect.words);
      this.expect = null;
    }
    let message;
    try { message = JSON.parse(data); } catch { return; }
    const ctx = this.contexts.get(message.context_id);
    if (message.type === "audio" && ctx) {
      const words = Array.isArray(message.words) ? message.words : [];
      if (message.bytes > 0) this.expect = { ctx, words };
      else this.deliver(ctx, null, words);
    } else if (message.type === "done" && ctx) {
      this.over(ctx);
    } else if (message.type === "error") {
      const error = message.error || {};
      // Text typed into a context the server had just ended (refused, failed) meanwhile: that end was
      // the error to show.
      if (message.context_id === null && error.code === "unknown_context") return;
      if (!ctx || !ctx.dropped) this.on.error(new ApiError(0, error.message || "error", error.code || null));
      if (ctx && ctx === this.current) {
        const retry = Number(message.retry_after_s);
        this.blockedUntil = error.code === "overloaded" && retry > 0 ? Date.now() + retry * 1000 : Infinity;
      }
      if (ctx) this.over(ctx);
    }
  }

  /** A piece of a context's audio (or only its words): played now when earlier contexts are over. */
  deliver(ctx, bytes, words) {
    if (ctx.dropped) return;
    ctx.pending.push({ bytes, words });
    this.play();
  }

  /** The server is done with a context (done, error, or the socket closed). */
  over(ctx) {
    ctx.over = true;
    this.contexts.delete(ctx.id);
    if (ctx === this.current) {
      this.current = null;
      this.on.change();
    }
    if (this.closeWhenIdle && !this.contexts.size) this.close();
    this.play();
  }

  /** Plays the queue's head context as far as it arrived; moves on to the next once it is over. */
  play() {
    while (this.queue.length) {
      const ctx = this.queue[0];
      for (const { bytes, words } of ctx.pending.splice(0)) {
        if (ctx.audioOffset === null) ctx.audioOffset = this.player.duration;
        if (words.length) {
          const offset = ctx.meta.textOffset;
          this.on.words(words.map((w) => ({
            ...w, start_time: w.start_time + ctx.audioOffset, end_time: w.end_time + ctx.audioOffset,
            text_start: w.text_start + offset, text_end: w.text_end + offset,
          })), ctx.meta);
        }
        if (bytes && bytes.length) {
          this.player.push(bytes);
          this.on.audio(bytes, this.player);
        }
      }
      if (!ctx.over) return;
      this.queue.shift();
    }
    this.whenPlayed();
  }

  /** Calls on.idle once the queue is empty and the last audio has played (unless more came meanwhile). */
  async whenPlayed() {
    const player = this.player;
    if (player && player.closed) return; // stopped: Stop has said so
    const last = player && player.lastEnded;
    if (last) await last;
    if (this.queue.length || this.current || this.player !== player || (player && (player.closed || player.lastEnded !== last))) return;
    this.on.idle();
  }
}
