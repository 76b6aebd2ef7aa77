import { CoordinatorError } from '../errors.js';

/**
 * Careful edits of files people keep by hand (an agent's settings): parse
 * strictly, say where a file is broken, change only our own entries, and
 * leave everything else as it was.
 */
export type Json = Record<string, unknown>;

/** Parses a config file; a broken one is refused with its line and column, never overwritten. */
export function parseConfig(text: string, file: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // V8's message gives a position only sometimes; find it ourselves.
    const where = hasComments(text) ? 'it has comments' : lineAndColumn(text, errorPosition(text));
    const comments = where === 'it has comments';
    throw new CoordinatorError(
      'InvalidConfigFile',
      `${file}${comments ? '' : `:${where}`} is not valid JSON (${comments ? `${where}, which we cannot keep when rewriting it` : message.split('\n')[0]}); fix it or add our entry by hand, it was left as it is`,
      { file },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CoordinatorError(
      'InvalidConfigFile',
      `${file} holds ${Array.isArray(value) ? 'a list' : typeof value}, not a JSON object; it was left as it is`,
      { file },
    );
  }
  return value as Json;
}

/** Where strict JSON parsing of `text` fails: a small scanner, since JSON.parse does not always say. */
function errorPosition(text: string): number {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') fail();
          value();
          ws();
          if (text[i] !== ':') fail();
          i++;
        }
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === close) return void i++;
        else fail();
      }
    }
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (i >= text.length) fail();
      return void i++;
    }
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) fail();
    i += m![0].length;
  };
  try {
    value();
    ws();
    return i;
  } catch (at) {
    return typeof at === 'number' ? at : 0;
  }
}

function hasComments(text: string): boolean {
  return /^\s*\/\/|\/\*/m.test(text);
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return `${line}:${position - before.lastIndexOf('\n')}`;
}

export function stringify(value: Json): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function objectAt(root: Json, key: string, file: string): Json {
  const existing = root[key];
  if (existing === undefined) return (root[key] = {});
  if (typeof existing !== 'object' || existing === null || Array.isArray(existing)) {
    throw new CoordinatorError('InvalidConfigFile', `${file}: "${key}" is not an object; it was left as it is`, { file, key });
  }
  return existing as Json;
}

/** Sets `root[section][name] = value`; returns what changed (for the report), or nothing. */
export function setEntry(root: Json, section: string, name: string, value: unknown, file: string): string[] {
  const parent = objectAt(root, section, file);
  if (JSON.stringify(parent[name]) === JSON.stringify(value)) return [];
  parent[name] = value;
  return [`${section}.${name}`];
}

/** Adds `item` to the list `root[key]` if it is not there. */
export function addToList(root: Json, key: string, item: string, file: string): string[] {
  const list = root[key] ?? [];
  if (!Array.isArray(list))
    throw new CoordinatorError('InvalidConfigFile', `${file}: "${key}" is not a list; it was left as it is`, { file, key });
  if (list.includes(item)) return [];
  root[key] = [...list, item];
  return [key];
}

/**
 * Puts our entry in `root.hooks[event]`: replaces an earlier one of ours
 * (`isOurs`), else appends; the user's own hooks stay, in their order.
 */
export function mergeHook(root: Json, event: string, entry: unknown, isOurs: (entry: unknown) => boolean, file: string): string[] {
  const hooks = objectAt(root, 'hooks', file);
  const list = hooks[event] ?? [];
  if (!Array.isArray(list))
    throw new CoordinatorError('InvalidConfigFile', `${file}: "hooks.${event}" is not a list; it was left as it is`, { file, event });
  const at = list.findIndex(isOurs);
  const others = list.filter((e) => !isOurs(e));
  // Ours goes where the first of ours was (before it, every entry is the user's), else last.
  const next = at === -1 ? [...others, entry] : [...others.slice(0, at), entry, ...others.slice(at)];
  if (JSON.stringify(next) === JSON.stringify(list)) return [];
  hooks[event] = next;
  return [`hooks.${event}`];
}

/** True when `value` (a hook entry, at any depth) runs `needle`. */
export function mentions(value: unknown, needle: string): boolean {
  return JSON.stringify(value ?? null).includes(needle);
}

/**
 * Replaces a TOML table (`[name]` and its `[name.sub]` tables) or appends it;
 * every other byte of the file stays as it was.
 */
export function setTomlTable(text: string, name: string, body: string): string {
  const lines = text.split('\n');
  const header = (line: string): string | undefined => /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(line)?.[1]?.trim();
  const ours = (h: string | undefined): boolean => h !== undefined && (h === name || h.startsWith(`${name}.`));
  const start = lines.findIndex((l) => ours(header(l)));
  const table = `[${name}]\n${body.trimEnd()}\n`;
  if (start === -1) return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${text === '' ? '' : '\n'}${table}`;
  let end = start + 1;
  while (end < lines.length && (header(lines[end]!) === undefined || ours(header(lines[end]!)))) end++;
  // Keep a blank line before the next table, as the file had it.
  while (end > start + 1 && lines[end - 1] === '' && end < lines.length) end--;
  const rest = lines.slice(end);
  // Our table was last: the file still ends with a newline.
  return [...lines.slice(0, start), ...table.trimEnd().split('\n'), ...(rest.length ? rest : [''])].join('\n');
}
