// Kokoro voice ids read as people read them: "af_heart" is Heart, American English, female.
// The first letter of an id names the language (accent), the second the gender, the rest the name.

const LANGUAGES = [
  ["a", "American English"], ["b", "British English"], ["e", "Spanish"], ["f", "French"], ["h", "Hindi"],
  ["i", "Italian"], ["j", "Japanese"], ["p", "Brazilian Portuguese"], ["z", "Mandarin Chinese"],
];
const LANGUAGE = new Map(LANGUAGES);
const GENDER = { f: "female", m: "male" };
const ID = /^([a-z])([fm])(?:_(.+))?$/;
export const OTHER = "Other";

const title = (word) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * id -> {id, name, language, gender}. Unknown prefixes get language "Other" and gender "";
 * an id without a name part (v0.19's "af") gets name "".
 */
export function describeVoice(id) {
  const m = ID.exec(id);
  if (!m || !LANGUAGE.has(m[1])) return { id, name: "", language: OTHER, gender: "" };
  const name = (m[3] || "").split("_").filter(Boolean).map(title).join(" ");
  return { id, name, language: LANGUAGE.get(m[1]), gender: GENDER[m[2]] };
}

/** The group heading of a described voice: "American English · female", or "Other". */
export const groupLabel = (voice) => (voice.gender ? `${voice.language} · ${voice.gender}` : voice.language);

function groupRank(voice) {
  const language = LANGUAGES.findIndex(([, label]) => label === voice.language);
  return language < 0 ? LANGUAGES.length * 2 : language * 2 + (voice.gender === "male" ? 1 : 0);
}

/**
 * True when every whitespace-separated term of `query` is found in the voice: inside its id, or at the
 * start of a word of its name, language or gender (so "male" does not match "female").
 */
export function voiceMatches(voice, query) {
  const words = [voice.name, voice.language, voice.gender].join(" ").toLowerCase().split(/\s+/).filter(Boolean);
  const id = voice.id.toLowerCase();
  return query.toLowerCase().split(/\s+/).filter(Boolean)
    .every((term) => id.includes(term) || words.some((w) => w.startsWith(term)));
}

/** ids -> [{label, voices}] in language order (female before male, "Other" last), ids sorted in a group. */
export function groupVoices(ids, query = "") {
  const groups = new Map();
  const described = ids.map(describeVoice).filter((v) => voiceMatches(v, query));
  described.sort((x, y) => groupRank(x) - groupRank(y) || x.id.localeCompare(y.id));
  for (const voice of described) {
    const label = groupLabel(voice);
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(voice);
  }
  return [...groups].map(([label, voices]) => ({ label, voices }));
}
