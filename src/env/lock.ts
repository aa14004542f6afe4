// The single-owner lock of an environment (I9: two owners never use one environment — not two
// processes, not two threads or handles of one process, not processes in different PID
// namespaces sharing a volume; a stale owner left by kill -9 is detected without a hang).
//
// File `<home>/__cairn.lock` holds one line of JSON:
//   {"pid":1234,"startedAt":"…","hostname":"h","bootId":"…","token":"…","sock":"…","readOnly":true}
// `sock` is the owner's liveness socket: a unix socket the owner binds *before* it creates the
// lock and keeps listening on until it has removed the lock (`<home>/__cairn.lock.<tag>.sock`, or
// under the private tmp directory when that path is too long: io/socket.ts). `readOnly` marks an
// owner that writes nothing (Environment.open readOnly, db_dump, db_stat, db_verify…).
// Acquire:
//   0. The same directory (by device and inode, however it is named) already held through this
//      module instance and Vfs → LOCKED at once. Bind the liveness socket.
//   1. open(lock, create + exclusive); write the JSON in one write. Done. Not fsynced, nor is
//      the home directory: exclusion is between live processes, which all see the page cache's
//      namespace (O_EXCL there), and a kill -9 keeps the page cache, so the lock stays. After a
//      power loss the lock may be gone, empty, torn or whole: its owner is dead either way (a new
//      boot id, or no lock at all), and what tells the next opener to recover is the control
//      file, which says 'open' durably before any write of the session (environment.ts open,
//      control.ts writeControl: temp file, fsync, rename, directory fsync) — never the lock.
//      (The two fsyncs this step used to make cost up to ~120 ms of an open under load:
//      docs/PERFORMANCE.md §R1.)
//   2. EEXIST: read it. A lock with a boot id other than the current one is stale (the machine
//      rebooted). Otherwise, with a `sock`, liveness is what a connection to it says (probeSocket:
//      works across PID namespaces and threads, where a pid cannot): accepted, or unknowable
//      (EACCES, timeout) → alive; refused (the socket file is there, nobody listens: its process
//      or thread is gone — even when the pid is ours, a worker thread's or a previous
//      incarnation's after a container restart) → stale; the socket file missing → alive only if
//      the pid is another live process. Without a `sock` (a lock written by an older cairn, a
//      file system without sockets, or a SimVfs test, which injects isAlive), the pid decides: the
//      owner is alive when its pid is not ours and isAlive(pid) (kill(pid, 0) succeeds or fails
//      with EPERM, and on Linux the process is not a zombie). Alive → LockedError naming the
//      pid, at once; never wait. There is no window in which a young lock looks stale: its
//      socket listens before the lock exists.
//   3. Stale: rename the lock aside to a unique name, check that what was moved is the stale
//      content just read (a racing opener may have replaced it meanwhile: then put it back and
//      retry), delete it and its dead socket file, go to 1, and report `staleOwner` so the
//      environment runs recovery — unless the stale owner was read-only (it wrote nothing).
//      Of two openers racing over one stale lock exactly one wins.
//   An empty or partial lock (its creator died between create and write, or is writing right
//   now, or a power loss kept the entry without the bytes) is stale once older than a second;
//   younger, the open fails with LOCKED.
// Utilities that only read ownership (readOwner: db_hotbackup, db_recover, db_dump…) use the
// same liveness test. An environment whose log directory is not its home also locks the log
// directory (environment.ts; F18).
// Limits: the hostname is recorded for people, not checked (cairn does not support network file
// systems); three openers racing within microseconds over one stale lock can still defeat step 3;
// when no socket can be bound at all, the lock falls back to the pid test (with a warning).

import * as path from 'node:path';
import { hostname as osHostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import type { Vfs } from '../io/vfs.js';
import { nodeVfs, readBootId, readProcessState, registerCreateMode } from '../io/node.js';
import { CairnError, IoError, LockedError, invalid } from '../util/errors.js';
import { type Probe, listenInPlace, privateTmpDir, probeSocket, socketPlace, tmpSocketPath, unlinkQuietly } from '../io/socket.js';

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
  /** The environment this lock is for, recorded for messages (default: the locked directory). */
  home?: string;
  /** The owner writes nothing (a read-only open): if it dies, its lock asks for no recovery. */
  readOnly?: boolean;
  /**
   * Bind a liveness socket and probe those of other owners (default: on the real file system
   * only). Tests on SimVfs leave it off and inject isAlive.
   */
  sockets?: boolean;
  /** @internal Probe another owner's socket; default io/socket.ts probeSocket. */
  probe?: (sock: string) => Probe;
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
  /** The owner opened the environment read-only. */
  readOnly?: boolean;
  startedAt?: string;
  hostname?: string;
}

interface LockRecord {
  pid: number;
  startedAt: string;
  hostname: string;
  bootId?: string;
  token: string;
  sock?: string;
  readOnly?: boolean;
  /** The environment the owner opened (for messages: a log directory's lock names its user). */
  home?: string;
}

interface Context {
  pid: number;
  isAlive: (pid: number) => boolean;
  hostname: string;
  bootId: string | undefined;
  now: () => number;
  probe: ((sock: string) => Probe) | undefined;
  /** Whether this module instance holds the home (own-pid locks without a socket). */
  heldHere: boolean;
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

/**
 * Homes this module instance holds, per Vfs, by identity (a second open in one process is two
 * writers too). Other threads and other copies of this module are told apart by the socket test.
 */
const held = new WeakMap<Vfs, Set<string>>();

/** The key of a home in `held`: device and inode on the real file system, else the resolved path. */
function homeKey(vfs: Vfs, home: string): string {
  const resolved = path.resolve(home);
  return vfs.identity?.(resolved) ?? resolved;
}

function heldBy(vfs: Vfs): Set<string> {
  let set = held.get(vfs);
  if (set === undefined) held.set(vfs, (set = new Set()));
  return set;
}

function context(vfs: Vfs, info: Partial<LockInfo> & { pid: number }): Context {
  if (!Number.isInteger(info.pid) || info.pid <= 0) throw invalid(`bad pid ${info.pid}`);
  const sockets = info.sockets ?? vfs === nodeVfs;
  return {
    pid: info.pid,
    isAlive: info.isAlive ?? processIsAlive,
    hostname: info.hostname ?? osHostname(),
    bootId: 'bootId' in info ? info.bootId : readBootId(),
    now: info.now ?? Date.now,
    probe: sockets ? (info.probe ?? ((sock) => probeSocket(sock))) : undefined,
    heldHere: false,
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
  if (rec.pid === ctx.pid && ctx.heldHere) return true; // held through this very module
  if (rec.bootId !== undefined && ctx.bootId !== undefined && rec.bootId !== ctx.bootId) {
    return false; // the machine rebooted since: that pid is someone else now
  }
  if (rec.sock !== undefined && ctx.probe !== undefined) {
    switch (ctx.probe(rec.sock)) {
      case 'alive':
      case 'unknown':
        return true;
      case 'dead':
        return false; // its socket is there and nobody listens: that process or thread is gone
      case 'missing':
        break; // someone removed the socket file: only a live pid can still say alive
    }
    return rec.pid === ctx.pid ? ctx.heldHere : ctx.isAlive(rec.pid);
  }
  if (rec.pid === ctx.pid) return ctx.heldHere; // else a previous incarnation of this pid
  return ctx.isAlive(rec.pid);
}

/** A socket path that a lock of ours could have named (never unlink what a crafted lock names). */
function ourSocketFile(home: string, sock: string): boolean {
  const dir = path.dirname(sock);
  if (dir !== path.resolve(home) && dir !== privateTmpDir()) return false;
  return /^(__cairn\.lock\.[0-9a-f]{12}\.sock|[0-9a-f]{24}\.sock)$/.test(path.basename(sock));
}

/** The liveness socket of a lock being taken: bound before the lock file exists. */
interface Liveness {
  sock: string;
  server: net.Server;
}

function bindLiveness(home: string): Liveness | undefined {
  const tag = randomBytes(6).toString('hex');
  const name = `__cairn.lock.${tag}.sock`;
  const place = socketPlace(path.resolve(home), name, `${path.resolve(home)}\0${tag}`);
  // A file system without sockets: the private tmp directory is the next best place.
  const candidates = place.inDir ? [place.path, tmpSocketPath(`${path.resolve(home)}\0${tag}`)] : [place.path];
  let why = '';
  for (const sock of candidates) {
    const server = net.createServer((s) => s.destroy());
    server.on('error', () => {
      // reported through server.listening below
    });
    try {
      // Bound where it is (no private directory and rename, unlike the channel): it carries
      // nothing, and /proc/net/unix then lists it under this name (probeSocket's fast path).
      if (listenInPlace(server, sock)) {
        server.unref();
        return { sock, server };
      }
      why = 'bind failed';
    } catch (e) {
      server.close();
      why = (e as Error).message;
    }
  }
  process.emitWarning(`cairn: no liveness socket for ${home} (${why}); its lock falls back to the pid test, which cannot see owners in other PID namespaces`);
  return undefined;
}

function closeLiveness(live: Liveness | undefined): void {
  if (live === undefined) return;
  live.server.close();
  unlinkQuietly(live.sock);
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
    const sock = parseRecord(expected)?.sock;
    if (sock !== undefined && ctx.probe !== undefined && ourSocketFile(path.dirname(lockPath), sock)) unlinkQuietly(sock);
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
  readonly #live: Liveness | undefined;
  #released = false;

  constructor(vfs: Vfs, key: string, lockPath: string, rec: LockRecord, stale: number | undefined, live: Liveness | undefined) {
    this.#vfs = vfs;
    this.#key = key;
    this.#live = live;
    this.path = lockPath;
    this.pid = rec.pid;
    this.#token = rec.token;
    this.staleOwner = stale;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    heldBy(this.#vfs).delete(this.#key);
    try {
      const seen = readLock(this.#vfs, this.path);
      if (seen?.record?.token !== this.#token) return; // taken over meanwhile: not ours to remove
      try {
        this.#vfs.unlink(this.path);
      } catch (err) {
        if (!isEnoent(err)) throw err;
      }
    } finally {
      // Only now: while the lock exists, its socket must answer (else it would look stale).
      closeLiveness(this.#live);
    }
  }
}

/** LOCKED by a handle, path or thread of this very process. */
function lockedHere(home: string, pid: number): LockedError {
  const e = new LockedError(home, pid);
  e.message = `environment ${home} is already in use by this process ${pid} (another handle, another path to the same directory, or a worker thread); close that handle first`;
  return e;
}

/**
 * Makes this process the environment's only owner (I9), or throws LockedError naming the live
 * owner's pid. Never waits (beyond probing a live owner's socket).
 */
export function acquireOwnerLock(vfs: Vfs, home: string, info: LockInfo): OwnerLock {
  const ctx = context(vfs, info);
  const lockPath = path.join(home, LOCK_FILE);
  const key = homeKey(vfs, home);
  if (heldBy(vfs).has(key)) throw lockedHere(home, ctx.pid);
  const live = ctx.probe !== undefined ? bindLiveness(home) : undefined;
  let staleOwner: number | undefined;
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const rec: LockRecord = {
        pid: ctx.pid,
        startedAt: new Date(ctx.now()).toISOString(),
        hostname: ctx.hostname,
        ...(ctx.bootId !== undefined ? { bootId: ctx.bootId } : {}),
        token: randomBytes(12).toString('hex'),
        ...(info.home !== undefined ? { home: info.home } : {}),
        ...(live !== undefined ? { sock: live.sock } : {}),
        ...(info.readOnly === true ? { readOnly: true } : {}),
      };
      if (tryCreate(vfs, lockPath, JSON.stringify(rec) + '\n')) {
        heldBy(vfs).add(key);
        return new Lock(vfs, key, lockPath, rec, staleOwner, live);
      }
      const seen = readLock(vfs, lockPath);
      if (seen === undefined) continue; // removed meanwhile: try again
      let pid: number | undefined = 0;
      if (seen.record !== undefined) {
        if (ownerAlive(seen.record, ctx)) {
          if (seen.record.pid === ctx.pid) throw lockedHere(home, ctx.pid);
          const err = new LockedError(home, seen.record.pid);
          const theirs = seen.record.home;
          if (theirs !== undefined && info.home !== undefined && theirs !== info.home && homeKey(vfs, theirs) !== key) {
            err.message += ` (it keeps the logs of environment ${theirs} in ${home}: set_lg_dir; give each environment its own log directory)`;
          }
          throw err;
        }
        // A read-only owner wrote nothing: its death asks for no recovery (report §D).
        pid = seen.record.readOnly === true ? undefined : seen.record.pid;
      } else if (ctx.now() - seen.mtimeMs < INCOMPLETE_GRACE_MS) {
        throw new CairnError('LOCKED', `environment ${home} is being opened by another process ` +
          `(${lockPath} is still being written); retry in a moment`);
      }
      if (removeStale(vfs, lockPath, seen.raw, ctx) && pid !== undefined) staleOwner = pid;
    }
    throw new CairnError('LOCKED', `environment ${home}: other processes keep racing for ` +
      `${lockPath}; retry`);
  } catch (e) {
    closeLiveness(live);
    throw e;
  }
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
  const ctx = context(vfs, { ...options, pid: options.pid ?? process.pid });
  ctx.heldHere = heldBy(vfs).has(homeKey(vfs, home));
  const alive = ownerAlive(rec, ctx);
  return { pid: rec.pid, alive, startedAt: rec.startedAt, hostname: rec.hostname, ...(rec.readOnly === true ? { readOnly: true } : {}) };
}

/**
 * Locks an environment for Environment.open and Environment.recover: its home, and its log
 * directory too when that is another directory (F18: two environments whose DB_CONFIG name one
 * log directory would mix their logs), and, with `mode`, registers the mode of what is created in
 * its directories (io/node.ts). One OwnerLock: staleOwner is either lock's; release releases all.
 */
export function lockEnvironment(
  vfs: Vfs,
  dirs: { home: string; logDir: string; dataDirs: string[] },
  options: { readOnly?: boolean; mode?: number } = {},
): OwnerLock {
  const info: LockInfo = { pid: process.pid, home: path.resolve(dirs.home), ...(options.readOnly === true ? { readOnly: true } : {}) };
  // First, so that the lock itself has the mode (a group member's tools read it).
  let unregister = options.mode !== undefined && vfs === nodeVfs ? registerCreateMode([dirs.home, dirs.logDir, ...dirs.dataDirs], options.mode) : undefined;
  let home: OwnerLock;
  try {
    home = acquireOwnerLock(vfs, dirs.home, info);
  } catch (e) {
    unregister?.();
    throw e;
  }
  let logs: OwnerLock | undefined;
  try {
    if (homeKey(vfs, dirs.logDir) !== homeKey(vfs, dirs.home)) {
      try {
        logs = acquireOwnerLock(vfs, dirs.logDir, info);
      } catch (e) {
        if (!(e instanceof LockedError)) throw e;
        const other = readLock(vfs, path.join(dirs.logDir, LOCK_FILE))?.record?.home;
        const err = new LockedError(dirs.home, e.pid);
        err.message = `the log directory ${dirs.logDir} (set_lg_dir in ${path.join(dirs.home, 'DB_CONFIG')}) holds another environment's logs: ` +
          `process ${e.pid} uses it${other !== undefined && other !== dirs.home ? ` for environment ${other}` : ''}; give each environment its own log directory`;
        throw err;
      }
    }
  } catch (e) {
    unregister?.();
    home.release();
    throw e;
  }
  return {
    path: home.path,
    pid: home.pid,
    staleOwner: home.staleOwner ?? logs?.staleOwner,
    release(): void {
      unregister?.();
      unregister = undefined;
      try {
        logs?.release();
      } finally {
        home.release();
      }
    },
  };
}

/**
 * Whether the log files an environment without a control file finds in its log directory are
 * another environment's (F18) rather than its own never-recovered copy's: the log directory is
 * outside the home and either is another environment's home or the home is no backup (a backup
 * made with db_hotbackup -D carries its manifest, and its logs are its own, to recover).
 */
export function foreignLogs(vfs: Vfs, dirs: { home: string; logDir: string }): boolean {
  if (homeKey(vfs, dirs.logDir) === homeKey(vfs, dirs.home)) return false;
  if (vfs.stat(path.join(dirs.logDir, '__cairn.control')) !== undefined) return true;
  const rel = path.relative(dirs.home, dirs.logDir);
  if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) return false; // a log subdirectory of its own
  return vfs.stat(path.join(dirs.home, '__cairn.backup.json')) === undefined;
}
