// Reading the server's streamed bodies piece by piece (fetch + ReadableStream).
import { ApiError } from "./api.js";

/** Calls onBytes(Uint8Array) for each piece of a raw body (audio/pcm), as it arrives. */
export async function readRaw(response, onBytes) {
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    onBytes(value);
  }
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Reads POST /dev/captioned_speech: one JSON object {audio: base64, timestamps: [...]}, or, streamed,
 * NDJSON with one such object per line. Calls onBytes with the decoded audio and onWords with each
 * line's timestamps ({word, start_time, end_time, text_start, text_end}; times in seconds from the
 * start of the whole audio). A line carrying OpenAI's {"error": {...}} ends the read with that message.
 */
export async function readCaptioned(response, onBytes, onWords) {
  const handle = (item) => {
    if (item.error) throw new ApiError(500, item.error.message || String(item.error));
    if (item.audio) onBytes(base64Bytes(item.audio));
    if (Array.isArray(item.timestamps) && item.timestamps.length) onWords(item.timestamps);
  };
  const type = (response.headers.get("Content-Type") || "").split(";")[0].trim();
  if (type === "application/json") {
    handle(await response.json()); // not streamed: one object
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
    const lines = pending.split("\n");
    pending = done ? "" : lines.pop();
    for (const line of lines) if (line.trim()) handle(JSON.parse(line));
    if (done) return;
  }
}
