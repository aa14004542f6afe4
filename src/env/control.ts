// The control file `__cairn.control` in the environment home (docs/FORMAT.md §Control file):
// where normal recovery starts, whether the environment was closed cleanly, and whether a
// recovery is unfinished (I7 marker). Replaced atomically: temp file, fsync, rename, fsync dir.
//
// Format: one line of JSON, then a line "crc32 <8 hex digits>" of the JSON line's bytes.

import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CorruptionError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import type { Lsn } from '../util/lsn.js';
import { zlib } from '../util/node.js';
import { MIN_LOG_FILE_SIZE } from '../log/file.js';

export const CONTROL_FILE = '__cairn.control';

export type ControlState =
  /** An owner has the environment open; found at open, it means the owner crashed. */
  | 'open'
  /** Closed cleanly, or recovered: the data files are complete through `end`. */
  | 'closed'
  /** A recovery started and did not finish (I7): refuse normal opens until one succeeds. */
  | 'recovering';

export interface Control {
  version: 1;
  envId: string;
  state: ControlState;
  /** With state 'recovering': which recovery must be rerun. */
  recovery?: 'normal' | 'catastrophic';
  /** Normal recovery starts here: data files hold every change logged before it. */
  redo: Lsn;
  /** The last checkpoint record (0: none). */
  checkpoint: Lsn;
  /** The end of the log when the state was written ('closed': must still be the end at open). */
  end: Lsn;
  /** First transaction id to use next. */
  nextTxn: number;
  /** The log file size in use. */
  logFileSize: number;
  /** Time of the last commit applied (ms), for status and backups. */
  lastCommit?: number;
  /** The tag of the page LSN map `__cairn.pages` written with the data files' last change. */
  pageMap?: Lsn;
  /**
   * The history this environment's log continues (16 hex digits, docs/FORMAT.md §Log files):
   * recovery and open refuse a log whose last file is of another history. Absent: unknown.
   */
  history?: string;
  /** Where the log ended when `history` forked from its parent (absent: it never forked). */
  forkedAt?: Lsn;
  /** Set by catastrophic recovery: the next read-write open starts a new history. */
  fork?: boolean;
}

export function controlPath(home: string): string {
  return path.join(home, CONTROL_FILE);
}

/** The largest control file read: its JSON holds a few fields and the history chain (one short entry per failover). */
export const MAX_CONTROL_BYTES = 1024 * 1024;

export function readControl(vfs: Vfs, home: string): Control | undefined {
  const file = controlPath(home);
  const st = vfs.stat(file);
  if (st === undefined) return undefined;
  // Read whole only when it could be a control file: a huge (or sparse) file is refused unread.
  if (st.size > MAX_CONTROL_BYTES) throw new CorruptionError(file, 0, `control file of ${st.size} bytes, more than any control file (${MAX_CONTROL_BYTES}); run db_recover -c (catastrophic recovery) to rebuild it from the logs`);
  const text = vfs.readFile(file).toString('utf8');
  const nl = text.indexOf('\n');
  const json = nl < 0 ? text : text.slice(0, nl);
  const m = /^crc32 ([0-9a-f]{8})\n?$/.exec(text.slice(nl + 1));
  if (nl < 0 || !m || parseInt(m[1]!, 16) !== zlib.crc32(Buffer.from(json, 'utf8'))) {
    throw new CorruptionError(file, 0, 'control file checksum mismatch; run db_recover -c (catastrophic recovery) to rebuild it from the logs');
  }
  return checkControl(file, json);
}

const STATES: readonly string[] = ['open', 'closed', 'recovering'];
const isLsn = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const isU32 = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;

/**
 * Parses the JSON line and checks every field's type and range: a control file whose checksum
 * matches but whose content is not one cairn writes (another program's, or a bug's) is
 * corruption, never a TypeError later.
 */
function checkControl(file: string, json: string): Control {
  const bad = (what: string) => new CorruptionError(file, 0, `control file ${what}; run db_recover -c (catastrophic recovery) to rebuild it from the logs`);
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw bad('is not valid JSON');
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw bad('is not a JSON object');
  if (c.version !== 1) throw bad(`has version ${JSON.stringify(c.version)}, expected 1`);
  if (typeof c.envId !== 'string' || !/^[0-9a-f]{32}$/.test(c.envId)) throw bad('has no valid envId (32 hex digits)');
  if (!STATES.includes(c.state as string)) throw bad(`has an unknown state ${JSON.stringify(c.state)}`);
  if (c.recovery !== undefined && c.recovery !== 'normal' && c.recovery !== 'catastrophic') throw bad(`has an unknown recovery ${JSON.stringify(c.recovery)}`);
  for (const f of ['redo', 'checkpoint', 'end']) if (!isLsn(c[f])) throw bad(`has an invalid ${f} LSN ${JSON.stringify(c[f])}`);
  if (!isU32(c.nextTxn)) throw bad(`has an invalid nextTxn ${JSON.stringify(c.nextTxn)}`);
  if (c.logFileSize !== undefined && (!isU32(c.logFileSize) || (c.logFileSize as number) < MIN_LOG_FILE_SIZE)) throw bad(`has an invalid logFileSize ${JSON.stringify(c.logFileSize)}`);
  if (c.lastCommit !== undefined && !Number.isFinite(c.lastCommit)) throw bad(`has an invalid lastCommit ${JSON.stringify(c.lastCommit)}`);
  if (c.history !== undefined && (typeof c.history !== 'string' || !/^[0-9a-f]{16}$/.test(c.history))) throw bad(`has an invalid history ${JSON.stringify(c.history)}`);
  if (c.forkedAt !== undefined && !isLsn(c.forkedAt)) throw bad(`has an invalid forkedAt LSN ${JSON.stringify(c.forkedAt)}`);
  if (c.fork !== undefined && typeof c.fork !== 'boolean') throw bad(`has an invalid fork ${JSON.stringify(c.fork)}`);
  return c as unknown as Control;
}

export function writeControl(vfs: Vfs, home: string, c: Control): void {
  const json = JSON.stringify(c);
  // Never a control file its reader refuses (F14: a NaN commit time became "lastCommit":null and
  // every later open failed): callers check what they take from the log; this is the backstop.
  try {
    checkControl(controlPath(home), json);
  } catch (e) {
    assert(false, `writeControl: refusing to write a control file its reader refuses: ${(e as Error).message}`);
  }
  const crc = zlib.crc32(Buffer.from(json, 'utf8')).toString(16).padStart(8, '0');
  writeFileAtomic(vfs, controlPath(home), Buffer.from(`${json}\ncrc32 ${crc}\n`, 'utf8'));
}
