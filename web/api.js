// The server's HTTP API as the page uses it: the optional API key, and errors as the server wrote them.

const KEY_STORAGE = "kokoro.apiKey";

/** An HTTP failure carrying the message from OpenAI's error envelope ({"error": {"message", ...}}). */
export class ApiError extends Error {
  constructor(status, message, code = null) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function storedKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

export function storeKey(key) {
  try { key ? localStorage.setItem(KEY_STORAGE, key) : localStorage.removeItem(KEY_STORAGE); } catch { /* private mode */ }
}

/** Builds an ApiError from a failed response: error.message when the body is the envelope, else the status line. */
export async function errorFrom(response) {
  let message = `${response.status} ${response.statusText || "error"}`.trim();
  let code = null;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) {
      message = body.error.message;
      code = body.error.code || null;
    } else if (body && typeof body.detail === "string") {
      message = body.detail;
    }
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(response.status, message, code);
}

/**
 * fetch() against the server with the stored key as a Bearer token.
 * Resolves with the Response when it is 2xx; rejects with ApiError otherwise (and on network failure).
 */
export async function apiFetch(path, { json, signal, method } = {}) {
  const headers = {};
  const key = storedKey();
  if (key) headers["Authorization"] = `Bearer ${key}`;
  const init = { method: method || (json === undefined ? "GET" : "POST"), headers, signal };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, `cannot reach the server: ${err.message}`);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}
