import { crc32 } from 'node:zlib';
import type { WalRecord } from './shardState.js';

export interface WalHeader {
  readonly wal: number;
  readonly baseSeq: number;
  readonly namespace: string;
}

/** `<crc32 hex> <json>\n`: a torn or flipped line fails its checksum and is skipped by every reader. */
export function encodeLine(value: WalRecord | WalHeader): string {
  const json = JSON.stringify(value);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

export function decodeLine(line: string): unknown {
  const space = line.indexOf(' ');
  if (space !== 8) return undefined;
  const json = line.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)) return undefined;
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

export function isRecord(v: unknown): v is WalRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.n === 'string' &&
    (r.after === undefined || typeof r.after === 'string') &&
    (r.op === 'set' || r.op === 'delete') &&
    typeof r.k === 'string' &&
    Number.isInteger(r.pv) &&
    typeof r.at === 'number' &&
    typeof r.by === 'object'
  );
}

export function isHeader(v: unknown): v is WalHeader {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return Number.isInteger(h.wal) && Number.isInteger(h.baseSeq) && typeof h.namespace === 'string';
}

/**
 * Splits newly read bytes into complete lines; a trailing fragment without
 * its newline is left for the next read (it may still be being written).
 */
export function splitLines(text: string): { lines: string[]; consumed: number } {
  const last = text.lastIndexOf('\n');
  if (last < 0) return { lines: [], consumed: 0 };
  const complete = text.slice(0, last + 1);
  return { lines: complete.split('\n').slice(0, -1), consumed: Buffer.byteLength(complete) };
}
