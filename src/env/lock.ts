// The single-owner lock of an environment (I9: two processes never write one environment; a
// stale owner left by kill -9 is detected without a hang).
//
// File `<home>/__cairn.lock` holds one line of JSON:
//   {"pid":1234,"startedAt":"2025-01-01T00:00:00.000Z","hostname":"h","bootId":"…","token":"…"}
// Acquire:
//   1. open(lock, create + exclusive); write the JSON in one write. Done. Not fsynced, nor is
//      the home directory: exclusion is between live processes, which all see the page cache's
//      namespace (O_EXCL there), and a kill -9 keeps the page cache, so the lock stays. After a
//      power loss the lock may be gone, empty, torn or whole: its owner is dead either way (a new
//      boot id, or no lock at all), and what tells the next opener to recover is the control
//      file, which says 'open' durably before any write of the session (environment.ts open,
//      control.ts writeControl: temp file, fsync, rename, directory fsync) — never the lock.
//      (The two fsyncs this step used to make cost up to ~120 ms of an open under load:
//      docs/PERFORMANCE.md §R1.)
//   2. EEXIST: read it. The owner is alive when its pid is not ours, its boot id (Linux) is the
//      current one, and isAlive(pid) (kill(pid, 0) succeeds or fails with EPERM, and on Linux
//      the process is not a zombie) → LockedError naming the pid, at once; never wait.
//      Our own pid in the file is a previous incarnation (pid reuse after a container restart,
//      as PostgreSQL's postmaster.pid check assumes); a second open inside this process is
//      refused by an in-process registry instead.
//   3. Dead owner: rename the lock aside to a unique name, check that what was moved is the
//      stale content just read (a racing opener may have replaced it meanwhile: then put it
//      back and retry), delete it, go to 1, and report `staleOwner` so the environment runs
//      recovery. Of two openers racing over one stale lock exactly one wins.
//   An empty or partial lock (its creator died between create and write, or is writing right
//   now, or a power loss kept the entry without the bytes) is stale once older than a second;
//   younger, the open fails with LOCKED.
// Limits: the hostname is recorded for people, not checked (cairn does not support network file
// systems); three openers racing within microseconds over one stale lock can still defeat step 3.

import * as path from 'node:path';
import { hostname as osHostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Vfs } from '../io/vfs.js';
import { readBootId, readProcessState } from '../io/node.js';
import { CairnError, IoError, LockedError, invalid } from '../util/errors.js';

export const LOCK_FILE = '__cairn.lock';

/** An unreadable lock file younger than this may still be being written by its creator. */
const INCOMPLETE_GRACE_MS = 1000;
const MAX_ATTEMPTS = 5;

export interface LockInfo {
  pid: number;
  /** Liveness of another process; default kill(pid, 0). Tests on SimVfs inject dead owners. */
  isAlive?: (pid: number) => boolean;
  /** Default os.hostname(). */
  hostname?: string;
  /** Default the kernel boot id on Linux (undefined elsewhere). */
  bootId?: string;
  /** Wall clock in ms, compared with the lock file's mtimeMs; default Date.now. */
  now?: () => number;
}

export interface OwnerLock {
  readonly path: string;
  readonly pid: number;
  /**
   * The pid of a dead previous owner whose lock was taken over (0 when its lock file was
   * unreadable), or undefined when there was none. When set, the environment must recover.
   */
  readonly staleOwner: number | undefined;
  /** Removes the lock if it is still ours. Idempotent. */
  release(): void;
}

export interface OwnerInfo {
  pid: number;
  alive: boolean;
  startedAt?: string;
  hostname?: string;
}

interface LockRecord {
  pid: number;
  startedAt: string;
  hostname: string;
  bootId?: string;
  token: string;
}

interface Context {
  pid: number;
  isAlive: (pid: number) => boolean;
  hostname: string;
  bootId: string | undefined;
  now: () => number;
}

/**
 * kill(pid, 0): alive unless the process does not exist (ESRCH); EPERM (another user's process)
 * counts as alive. On Linux a zombie (exited, not yet reaped by its parent) counts as dead.
 */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  const state = readProcessState(pid);
  return state !== 'Z' && state !== 'X';
}

/** Homes this process holds, per Vfs (a second open in one process is two writers too). */
const held = new WeakMap<Vfs, Set<string>>();

function heldBy(vfs: Vfs): Set<string> {
  let set = held.get(vfs);
  if (set === undefined) held.set(vfs, (set = new Set()));
  return set;
}

function context(info: Partial<LockInfo> & { pid: number }): Context {
  if (!Number.isInteger(info.pid) || info.pid <= 0) throw invalid(`bad pid ${info.pid}`);
  return {
    pid: info.pid,
    isAlive: info.isAlive ?? processIsAlive,
    hostname: info.hostname ?? osHostname(),
    bootId: 'bootId' in info ? info.bootId : readBootId(),
    now: info.now ?? Date.now,
  };
}

function parseRecord(raw: string): LockRecord | undefined {
  try {
    const rec = JSON.parse(raw) as Partial<LockRecord> | null;
    if (rec === null || typeof rec !== 'object') return undefined;
    if (!Number.isInteger(rec.pid) || (rec.pid as number) <= 0) return undefined;
    if (typeof rec.token !== 'string') return undefined;
    return rec as LockRecord;
  } catch {
    return undefined;
  }
}

function isEnoent(err: unknown): boolean {
  return err instanceof IoError && err.errno === 'ENOENT';
}

interface Seen {
  raw: string;
  record: LockRecord | undefined;
  mtimeMs: number;
}

function readLock(vfs: Vfs, lockPath: string): Seen | undefined {
  let raw: string;
  try {
    raw = vfs.readFile(lockPath).toString('utf8');
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw err;
  }
  return { raw, record: parseRecord(raw), mtimeMs: vfs.stat(lockPath)?.mtimeMs ?? 0 };
}

function ownerAlive(rec: LockRecord, ctx: Context): boolean {
  if (rec.pid === ctx.pid) return false; // a previous incarnation of this pid
  if (rec.bootId !== undefined && ctx.bootId !== undefined && rec.bootId !== ctx.bootId) {
    return false; // the machine rebooted since: that pid is someone else now
  }
  return ctx.isAlive(rec.pid);
}

/**
 * Creates the lock exclusively with `content`; false if it already exists. Not synced (see the
 * header: exclusion needs no durability, and recovery after a power loss follows the control file).
 */
function tryCreate(vfs: Vfs, lockPath: string, content: string): boolean {
  let handle;
  try {
    handle = vfs.open(lockPath, { create: true, exclusive: true });
  } catch (err) {
    if (err instanceof IoError && err.errno === 'EEXIST') return false;
    throw err;
  }
  try {
    try {
      handle.write(Buffer.from(content, 'utf8'), 0);
    } finally {
      handle.close();
    }
  } catch (err) {
    try {
      vfs.unlink(lockPath);
    } catch {
      // the original error is the one to report
    }
    throw err;
  }
  return true;
}

/** Removes a stale lock whose content was `expected`; false if someone changed it first. */
function removeStale(vfs: Vfs, lockPath: string, expected: string, ctx: Context): boolean {
  const aside = `${lockPath}.stale.${ctx.pid}.${randomBytes(6).toString('hex')}`;
  try {
    vfs.rename(lockPath, aside);
  } catch (err) {
    if (isEnoent(err)) return false;
    throw err;
  }
  const moved = vfs.readFile(aside).toString('utf8');
  if (moved === expected) {
    vfs.unlink(aside);
    return true;
  }
  // A racing opener replaced the stale lock after we read it: that one is live, put it back.
  if (vfs.stat(lockPath) === undefined) vfs.rename(aside, lockPath);
  else vfs.unlink(aside);
  return false;
}

class Lock implements OwnerLock {
  readonly path: string;
  readonly pid: number;
  readonly staleOwner: number | undefined;
  readonly #vfs: Vfs;
  readonly #key: string;
  readonly #token: string;
  #released = false;

  constructor(vfs: Vfs, key: string, lockPath: string, rec: LockRecord, stale: number | undefined) {
    this.#vfs = vfs;
    this.#key = key;
    this.path = lockPath;
    this.pid = rec.pid;
    this.#token = rec.token;
    this.staleOwner = stale;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    heldBy(this.#vfs).delete(this.#key);
    const seen = readLock(this.#vfs, this.path);
    if (seen?.record?.token !== this.#token) return; // taken over meanwhile: not ours to remove
    try {
      this.#vfs.unlink(this.path);
    } catch (err) {
      if (!isEnoent(err)) throw err;
    }
  }
}

/**
 * Makes this process the environment's only owner (I9), or throws LockedError naming the live
 * owner's pid. Never waits.
 */
export function acquireOwnerLock(vfs: Vfs, home: string, info: LockInfo): OwnerLock {
  const ctx = context(info);
  const lockPath = path.join(home, LOCK_FILE);
  const key = path.resolve(home);
  if (heldBy(vfs).has(key)) throw new LockedError(home, ctx.pid);
  let staleOwner: number | undefined;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const rec: LockRecord = {
      pid: ctx.pid,
      startedAt: new Date(ctx.now()).toISOString(),
      hostname: ctx.hostname,
      ...(ctx.bootId !== undefined ? { bootId: ctx.bootId } : {}),
      token: randomBytes(12).toString('hex'),
    };
    if (tryCreate(vfs, lockPath, JSON.stringify(rec) + '\n')) {
      heldBy(vfs).add(key);
      return new Lock(vfs, key, lockPath, rec, staleOwner);
    }
    const seen = readLock(vfs, lockPath);
    if (seen === undefined) continue; // removed meanwhile: try again
    let pid = 0;
    if (seen.record !== undefined) {
      if (ownerAlive(seen.record, ctx)) throw new LockedError(home, seen.record.pid);
      pid = seen.record.pid;
    } else if (ctx.now() - seen.mtimeMs < INCOMPLETE_GRACE_MS) {
      throw new CairnError('LOCKED', `environment ${home} is being opened by another process ` +
        `(${lockPath} is still being written); retry in a moment`);
    }
    if (removeStale(vfs, lockPath, seen.raw, ctx)) staleOwner = pid;
  }
  throw new CairnError('LOCKED', `environment ${home}: other processes keep racing for ` +
    `${lockPath}; retry`);
}

/** Who owns the environment, for utilities; undefined when there is no readable lock. */
export function readOwner(
  vfs: Vfs,
  home: string,
  options: Partial<LockInfo> = {},
): OwnerInfo | undefined {
  const seen = readLock(vfs, path.join(home, LOCK_FILE));
  const rec = seen?.record;
  if (rec === undefined) return undefined;
  const ctx = context({ ...options, pid: options.pid ?? process.pid });
  const alive = rec.pid === ctx.pid ? heldBy(vfs).has(path.resolve(home)) : ownerAlive(rec, ctx);
  return { pid: rec.pid, alive, startedAt: rec.startedAt, hostname: rec.hostname };
}
