// The spoken text, with the word being played highlighted when the server sent word timestamps.

export class Transcript {
  constructor(element) {
    this.el = element;
    this.text = "";
    this.words = []; // {start, end, from, to, span}
    this.current = null;
    this.searchFrom = 0;
  }

  reset(text) {
    this.text = text;
    this.words = [];
    this.current = null;
    this.searchFrom = 0;
    this.el.textContent = text;
    this.el.hidden = true; // shown once there are word timings: without them it would only repeat the text box
  }

  /** The text grew at its end (typed while it is spoken): the marked words stay where they are. */
  extend(text) {
    this.text = text;
    if (this.words.length) this.render();
  }

  /** Adds timestamps ({word, start_time, end_time, text_start, text_end}) and re-renders the marked words. */
  addWords(timestamps) {
    for (const t of timestamps) {
      let from = Number.isInteger(t.text_start) ? t.text_start : -1;
      let to = Number.isInteger(t.text_end) ? t.text_end : -1;
      if (from < 0 || to <= from || to > this.text.length) {
        // No usable offsets: find the word after the previous one.
        from = this.text.indexOf(t.word, this.searchFrom);
        to = from < 0 ? -1 : from + t.word.length;
      }
      if (from < 0) continue;
      this.searchFrom = Math.max(this.searchFrom, to);
      this.words.push({ start: Number(t.start_time), end: Number(t.end_time), from, to, span: null });
    }
    this.render();
  }

  render() {
    const marks = [...this.words].sort((a, b) => a.from - b.from);
    const fragment = document.createDocumentFragment();
    let at = 0;
    for (const w of marks) {
      if (w.from < at) { w.span = null; continue; } // overlapping offsets: keep the first
      if (w.from > at) fragment.append(this.text.slice(at, w.from));
      const span = document.createElement("span");
      span.className = w === this.current ? "word current" : "word"; // re-rendering keeps the highlight
      span.textContent = this.text.slice(w.from, w.to);
      w.span = span;
      fragment.append(span);
      at = w.to;
    }
    fragment.append(this.text.slice(at));
    this.el.replaceChildren(fragment);
    this.el.hidden = false;
    if (this.current && !this.current.span) this.current = null;
  }

  /** Highlights the word spoken at `seconds` of audio (none between words). */
  highlight(seconds) {
    const word = this.words.find((w) => w.span && w.start <= seconds && seconds < w.end) || null;
    if (word === this.current) return;
    if (this.current && this.current.span) this.current.span.classList.remove("current");
    if (word) word.span.classList.add("current");
    this.current = word;
  }

  get hasWords() { return this.words.length > 0; }
}
