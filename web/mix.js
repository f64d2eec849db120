// Voice mixes as the server reads them: "af_bella(2)+af_sky(1)"; a single voice at weight 1 is just its name.

/** rows: [{name, weight}] -> the voice string sent to the server. */
export function mixString(rows) {
  if (rows.length === 1 && Number(rows[0].weight) === 1) return rows[0].name;
  return rows.map((r) => `${r.name}(${formatWeight(r.weight)})`).join("+");
}

function formatWeight(weight) {
  const w = Number(weight);
  return Number.isFinite(w) ? String(Math.round(w * 1000) / 1000) : String(weight);
}

const TERM = /^\s*([A-Za-z0-9_.-]+)\s*(?:\(\s*([0-9]*\.?[0-9]+)\s*\))?\s*$/;

/**
 * The inverse of mixString for the additive form the mix editor can show; null for anything else
 * (subtraction, typos, ...), which is still sent as typed and judged by the server.
 */
export function parseMix(text) {
  if (!text.trim()) return [];
  const rows = [];
  for (const part of text.split("+")) {
    const m = TERM.exec(part);
    if (!m) return null;
    rows.push({ name: m[1], weight: m[2] === undefined ? 1 : Number(m[2]) });
  }
  return rows;
}
