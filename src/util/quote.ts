// Values quoted in messages. A config, a flag or a file may hold anything: a 100 KB
// hostname, a newline that would forge a second log line, U+2028 (a line break to
// JavaScript and to some log viewers), bidi overrides that reorder what a terminal shows.
// quote() prints a value on one line, escaped, and cut to a readable length with its
// full length said, so a message stays short and truthful whatever the input.

/** How many characters of a value a message shows at most. */
export const QUOTE_LIMIT = 64;

// C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings and isolates.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

function escapeUnsafe(json: string): string {
  return json.replace(UNSAFE, escapeChar);
}

/**
 * A value for a message: a string in double quotes with every control character,
 * U+2028/U+2029 and bidi control escaped; longer than `max` characters, the first ones
 * followed by `...` and the whole length in bytes. Other values as String(v), cut the same way.
 */
export function quote(value: unknown, max = QUOTE_LIMIT): string {
  const text = typeof value === 'string' ? value : String(value);
  let head = text;
  if (text.length > max) {
    head = text.slice(0, max);
    // never split a surrogate pair
    if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  }
  const shown = typeof value === 'string' ? escapeUnsafe(JSON.stringify(head)) : escapeUnsafe(head);
  if (head === text) return shown;
  if (typeof value !== 'string') return `${shown}... (${text.length} characters)`;
  return `${shown.slice(0, -1)}..." (${Buffer.byteLength(text)} bytes)`;
}

/** Messages longer than this are cut (a value quoted without quote(), a long path list). */
export const MESSAGE_LIMIT = 4096;

/**
 * The last guard before a message is printed: control characters other than newline and
 * tab, U+2028/U+2029 and bidi controls escaped; cut at MESSAGE_LIMIT with its length said.
 */
export function safeMessage(msg: string): string {
  let out = msg.replace(UNSAFE, (c) => (c === '\n' || c === '\t' ? c : escapeChar(c)));
  if (out.length > MESSAGE_LIMIT) out = `${out.slice(0, MESSAGE_LIMIT)}... (message cut, ${Buffer.byteLength(msg)} bytes in all)`;
  return out;
}

/** The words a message uses for a string the kernel would cut at its first NUL. */
export const NUL_BYTE = 'contains a NUL byte';

/** Whether a string would be cut short as a C string (a path, an argument). */
export function hasNul(s: string): boolean {
  return s.includes('\0');
}
