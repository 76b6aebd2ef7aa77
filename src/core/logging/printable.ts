/**
 * Text that came from an agent (client names, paths, keys) reaches logs and
 * the panel. Control characters in it could forge a log line or move the
 * cursor, and its length is the agent's choice (R-SEC-6).
 */

// C0 and C1 controls, DEL, line/paragraph separators, and the bidi overrides that reorder what is shown.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** For a log line: every control character written as an escape, so one call is one line. */
export function printable(text: string): string {
  return text.replace(CONTROLS, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export const MAX_LABEL_CHARS = 128;

/** A name an agent gave itself, as we keep and show it: control characters replaced, at most 128 characters. */
export function label(value: unknown, fallback: string): string {
  if (typeof value !== 'string') return fallback;
  const clean = value.replace(CONTROLS, '\uFFFD').trim();
  if (clean.length === 0) return fallback;
  const chars = [...clean];
  return chars.length <= MAX_LABEL_CHARS ? clean : `${chars.slice(0, MAX_LABEL_CHARS - 1).join('')}…`;
}
