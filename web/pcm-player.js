// Plays raw 16-bit little-endian mono PCM as it arrives, through the Web Audio API.
//
// Each received piece becomes an AudioBuffer scheduled right after the previous one, so playback starts
// with the first piece while the server is still generating the rest. When the network falls behind,
// the next piece starts a little later: `segments` remembers where each piece sits on the context's
// clock, so `position` stays in audio time (what word highlighting needs) across such gaps.

const LEAD_S = 0.05; // scheduling margin: a buffer started "now" would clip its first milliseconds

export class PcmStreamPlayer {
  constructor(sampleRate = 24000) {
    this.sampleRate = sampleRate;
    this.ctx = new AudioContext({ sampleRate });
    this.nextTime = 0;
    this.samples = 0;
    this.segments = []; // {at: context time, offset: audio seconds, length: seconds}
    this.sources = new Set();
    this.leftover = null;
    this.closed = false;
    this.lastEnded = null;
  }

  /** Queue the next bytes of the stream (any length; an odd trailing byte waits for the next piece). */
  push(bytes) {
    if (this.closed || bytes.length === 0) return;
    if (this.leftover) {
      const joined = new Uint8Array(this.leftover.length + bytes.length);
      joined.set(this.leftover);
      joined.set(bytes, this.leftover.length);
      bytes = joined;
      this.leftover = null;
    }
    const usable = bytes.length - (bytes.length % 2);
    if (usable < bytes.length) this.leftover = bytes.slice(usable);
    if (usable === 0) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, usable);
    const count = usable / 2;
    const buffer = this.ctx.createBuffer(1, count, this.sampleRate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < count; i++) channel[i] = view.getInt16(i * 2, true) / 32768;
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.ctx.destination);
    const at = Math.max(this.nextTime, this.ctx.currentTime + LEAD_S);
    this.segments.push({ at, offset: this.samples / this.sampleRate, length: buffer.duration });
    source.start(at);
    this.sources.add(source);
    const ended = new Promise((resolve) => { source.onended = () => { this.sources.delete(source); resolve(); }; });
    this.lastEnded = ended;
    this.nextTime = at + buffer.duration;
    this.samples += count;
  }

  get started() { return this.segments.length > 0; }

  /** Seconds of audio received so far. */
  get duration() { return this.samples / this.sampleRate; }

  /** Seconds of audio already played (0 before the first sample sounds). */
  get position() {
    const now = this.ctx.currentTime;
    let seg = null;
    for (const s of this.segments) { if (s.at <= now) seg = s; else break; }
    if (!seg) return 0;
    // Capped at the piece's end: in a gap before the next piece, the audio clock stands still.
    return seg.offset + Math.min(now - seg.at, seg.length);
  }

  /** Resolves once everything queued so far has played. */
  async finished() {
    if (this.lastEnded) await this.lastEnded;
  }

  stop() {
    if (this.closed) return;
    this.closed = true;
    for (const source of this.sources) { try { source.stop(); } catch { /* not started */ } }
    this.sources.clear();
    this.ctx.close();
  }
}
