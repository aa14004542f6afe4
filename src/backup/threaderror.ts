// Errors across a thread boundary (the hot backup's worker, backupthread.ts): a structured clone
// keeps only an Error's message, so typed errors are packed with their class name and their string
// and number properties (code, file, offset) and rebuilt as their class on the other side.

import { CairnError, CorruptionError, IoError, LockedError, RunRecoveryError } from '../util/errors.js';

/** An error as it crosses a thread boundary: class name, message, stack, and its string and number properties. */
export interface PackedError {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
}

const CLASSES: Record<string, { prototype: object }> = { CairnError, CorruptionError, LockedError, RunRecoveryError, IoError };

export function pack(e: unknown): PackedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e), props: {} };
  const props: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (typeof v === 'string' || typeof v === 'number') props[k] = v;
  return { name: e.name, message: e.message, stack: e.stack, props };
}

/** The error `pack` made, rebuilt as its class (CairnError, CorruptionError, …) where it is one of ours. */
export function unpack(p: PackedError): Error {
  const e = Object.create((CLASSES[p.name] ?? Error).prototype) as Error;
  Object.defineProperty(e, 'message', { value: p.message, writable: true, configurable: true });
  Object.defineProperty(e, 'stack', { value: p.stack, writable: true, configurable: true });
  Object.assign(e, p.props);
  return e;
}
