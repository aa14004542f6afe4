// NodeVfs: the production Vfs over node:fs (DESIGN.md §4 "one I/O seam", reliability.md §9.0).
//
// Reads, writes and fsyncs are synchronous system calls; syncAsync runs fdatasync on libuv's
// thread pool so the event loop keeps serving while the disk works (group commit).
// Every failure is rethrown once as IoError(op, path, errno) with the Node error as `cause`.
// Nothing here retries an fsync: a failed sync is reported and the caller panics (I8).
// This directory is the only place in src/ that imports node:fs.

import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Background, BackgroundStep, FileHandle, OpenOptions, Preparation, Stat, Vfs } from './vfs.js';
import { IoError } from '../util/errors.js';

function errnoOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

function wrap(op: string, path: string, err: unknown): IoError {
  return new IoError(op, path, errnoOf(err), { cause: err });
}

// Vfs.prepare's and Vfs.background's thread: one per process, started at the first request,
// kept, and unref'd except while background work is pending (a flush may await it; a preparation
// never keeps the process alive). It takes one request at a time, in order, and reports through
// shared memory, which the owner reads (or blocks on, Atomics.wait) without an event-loop turn,
// and a message. A preparation: Int32 0 = 1 done, 2 failed. A background work: Int32 0 = 1 done,
// 2 failed; Int32 1 = the failed step; bytes 8–31 = its errno code.
const IO_THREAD = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const zero = Buffer.alloc(1024 * 1024);
function prepare({ id, path, size, flag }) {
  let error;
  try {
    const fd = fs.openSync(path, 'r+'); // made by the owner: removed meanwhile (a closed owner's cleanup) is ENOENT
    try {
      for (let at = 0; at < size; ) at += fs.writeSync(fd, zero, 0, Math.min(zero.length, size - at), at);
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    error = { code: typeof e?.code === 'string' ? e.code : 'EIO', message: String(e?.message ?? e) };
  }
  Atomics.store(flag, 0, error === undefined ? 1 : 2);
  parentPort.postMessage({ id, error });
}
function syncDir(dir) {
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dir, 'r');
  try {
    try { fs.fsyncSync(fd); } catch (e) { if (e.code !== 'EBADF' && e.code !== 'EINVAL') throw e; }
  } finally { fs.closeSync(fd); }
}
function background({ id, steps, shared }) {
  const state = new Int32Array(shared, 0, 2);
  let failed = -1;
  let code = '';
  for (let i = 0; i < steps.length && failed < 0; i++) {
    const s = steps[i];
    try {
      if (s.op === 'sync') fs.fdatasyncSync(s.fd);
      else if (s.op === 'rename') fs.renameSync(s.from, s.to);
      else syncDir(s.dir);
    } catch (e) {
      failed = i;
      code = typeof e?.code === 'string' ? e.code : 'EIO';
    }
  }
  if (failed >= 0) {
    new Uint8Array(shared, 8, 24).set(Buffer.from(code.slice(0, 24)));
    Atomics.store(state, 1, failed);
  }
  Atomics.store(state, 0, failed < 0 ? 1 : 2);
  Atomics.notify(state, 0);
  parentPort.postMessage({ id });
}
parentPort.on('message', (m) => (m.steps !== undefined ? background(m) : prepare(m)));
`;

let ioThread: Worker | undefined;
const preparing = new Map<number, (err: { code: string; message: string } | Error | undefined) => void>();
/** Background works pending: their shared state and what settles their `done`. */
const working = new Map<number, { state: Int32Array; settle: () => void }>();
let requests = 0;

function thread(): Worker {
  if (ioThread === undefined) {
    // execArgv: none of the parent's flags (--input-type=module would make this script ESM).
    const w = new Worker(IO_THREAD, { eval: true, execArgv: [] });
    w.on('message', (m: { id: number; error?: { code: string; message: string } }) => {
      const settle = preparing.get(m.id);
      if (settle !== undefined) {
        preparing.delete(m.id);
        settle(m.error);
        return;
      }
      const work = working.get(m.id);
      working.delete(m.id);
      if (working.size === 0) w.unref();
      work?.settle();
    });
    // The thread itself failing is no I/O error for a preparation: it ends but never becomes
    // ready (its owner makes the file in place). A background work's outcome is unknown, so it
    // fails (an fsync that may not have happened is never taken as done: I8). The next request
    // starts a new thread.
    w.on('error', () => {
      if (ioThread === w) ioThread = undefined;
      for (const settle of preparing.values()) settle(undefined);
      preparing.clear();
      for (const work of working.values()) {
        if (Atomics.compareExchange(work.state, 0, 0, 2) === 0) Atomics.store(work.state, 1, -1);
        Atomics.notify(work.state, 0);
        work.settle();
      }
      working.clear();
    });
    w.unref(); // after the listeners, which would ref it again
    ioThread = w;
  }
  return ioThread;
}

/** A blocked wait() gives up after this long with EIO (the thread is presumed lost). */
const BACKGROUND_WAIT_LIMIT_MS = 10 * 60 * 1000;

class NodeFileHandle implements FileHandle {
  readonly path: string;
  #fd: number;

  constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** The descriptor, for Vfs.background's thread (same process, same descriptor table). */
  static fdOf(h: FileHandle): number {
    if (!(h instanceof NodeFileHandle)) throw new TypeError(`NodeVfs.background: ${h.path} is not a NodeVfs handle`);
    return h.#fd;
  }

  read(buf: Uint8Array, position: number): number {
    let done = 0;
    try {
      while (done < buf.length) {
        const n = fs.readSync(this.#fd, buf, done, buf.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      throw wrap('read', this.path, err);
    }
    return done;
  }

  write(buf: Uint8Array, position: number): void {
    let done = 0;
    try {
      while (done < buf.length) {
        done += fs.writeSync(this.#fd, buf, done, buf.length - done, position + done);
      }
    } catch (err) {
      throw wrap('write', this.path, err);
    }
  }

  size(): number {
    try {
      return fs.fstatSync(this.#fd).size;
    } catch (err) {
      throw wrap('fstat', this.path, err);
    }
  }

  truncate(length: number): void {
    try {
      fs.ftruncateSync(this.#fd, length);
    } catch (err) {
      throw wrap('ftruncate', this.path, err);
    }
  }

  sync(): void {
    try {
      fs.fdatasyncSync(this.#fd);
    } catch (err) {
      throw wrap('fdatasync', this.path, err);
    }
  }

  syncAsync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.#fd, (err) => {
        if (err) reject(wrap('fdatasync', this.path, err));
        else resolve();
      });
    });
  }

  close(): void {
    try {
      fs.closeSync(this.#fd);
    } catch (err) {
      throw wrap('close', this.path, err);
    }
  }
}

// Modes of what cairn creates (issue 16 item 8, F8): by default nothing is readable by others —
// files 0600, directories 0700. An environment opened with `mode` (Berkeley DB's mode, e.g.
// 0o640) registers its directories here; files created in them, or below them, get that mode
// and directories its matching x bits. The process's umask still applies (as in Berkeley DB):
// it can narrow a mode, never widen one.
export const DEFAULT_FILE_MODE = 0o600;
const createModes = new Map<string, number>();

/** The directory mode matching a file mode: x wherever r is (0o640 → 0o750). */
export function dirModeFor(fileMode: number): number {
  return (fileMode | ((fileMode & 0o444) >> 2)) & 0o777;
}

/** The mode for a file made at `p`: the nearest registered ancestor's, else 0600. */
export function fileModeFor(p: string): number {
  if (createModes.size === 0) return DEFAULT_FILE_MODE;
  let dir = nodePath.dirname(nodePath.resolve(p));
  for (;;) {
    const m = createModes.get(dir);
    if (m !== undefined) return m;
    const up = nodePath.dirname(dir);
    if (up === dir) return DEFAULT_FILE_MODE;
    dir = up;
  }
}

/**
 * Files made under `dirs` (an environment's home, log and data directories) get `mode` until the
 * returned function is called (the environment closes). Used by Environment.open's `mode`.
 */
export function registerCreateMode(dirs: string[], mode: number): () => void {
  const keys = [...new Set(dirs.map((d) => nodePath.resolve(d)))].filter((d) => !createModes.has(d));
  for (const d of keys) createModes.set(d, mode & 0o777);
  return () => {
    for (const d of keys) createModes.delete(d);
  };
}

export class NodeVfs implements Vfs {
  open(path: string, options: OpenOptions = {}): FileHandle {
    const c = fs.constants;
    let flags = options.readOnly ? c.O_RDONLY : c.O_RDWR;
    if (options.create) flags |= c.O_CREAT;
    if (options.create && options.exclusive) flags |= c.O_EXCL;
    if (options.noFollow) flags |= c.O_NOFOLLOW;
    try {
      return new NodeFileHandle(path, fs.openSync(path, flags, fileModeFor(path)));
    } catch (err) {
      throw wrap('open', path, err);
    }
  }

  stat(path: string): Stat | undefined {
    try {
      const st = fs.statSync(path, { throwIfNoEntry: false });
      if (st === undefined) return undefined;
      return { size: st.size, isDirectory: st.isDirectory(), isFile: st.isFile(), mtimeMs: st.mtimeMs };
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR') return undefined;
      throw wrap('stat', path, err);
    }
  }

  identity(path: string): string | undefined {
    try {
      const st = fs.statSync(path, { bigint: true, throwIfNoEntry: false });
      return st === undefined ? undefined : `${st.dev}:${st.ino}`;
    } catch (err) {
      if (errnoOf(err) === 'ENOTDIR') return undefined;
      throw wrap('stat', path, err);
    }
  }

  prepare(path: string, size: number): Preparation {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const id = ++requests;
    let failure: Error | undefined;
    const done = new Promise<void>((resolve, reject) => {
      preparing.set(id, (err) => {
        failure = err === undefined || err instanceof Error ? err : new IoError('prepare', path, err.code, { cause: err.message });
        if (failure === undefined) resolve();
        else reject(failure);
      });
    });
    // The file exists when this returns (so whoever removes it after, e.g. a closing owner, removes it for good).
    try {
      fs.closeSync(fs.openSync(path, 'w', fileModeFor(path)));
    } catch (err) {
      throw wrap('open', path, err);
    }
    thread().postMessage({ id, path, size, flag });
    return {
      state: () => {
        const s = Atomics.load(flag, 0);
        if (s === 0) return failure ?? false;
        return s === 1 ? true : (failure ?? new IoError('prepare', path, 'EIO'));
      },
      done,
    };
  }

  background(steps: BackgroundStep[]): Background {
    const shared = new SharedArrayBuffer(32);
    const state = new Int32Array(shared, 0, 2);
    const wire = steps.map((s) => (s.op === 'sync' ? { op: s.op, fd: NodeFileHandle.fdOf(s.handle) } : s));
    const id = ++requests;
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    const w = thread();
    if (working.size === 0) w.ref(); // a flush may await this work: the process must not exit meanwhile
    working.set(id, { state, settle });
    w.postMessage({ id, steps: wire, shared });
    const outcome = (): boolean | Error => {
      const s = Atomics.load(state, 0);
      if (s === 0) return false;
      if (s === 1) return true;
      const step = steps[Atomics.load(state, 1)];
      const code = Buffer.from(new Uint8Array(shared, 8, 24)).toString('utf8').replace(/\0+$/, '') || 'EIO';
      if (step === undefined) return new IoError('background', 'the background I/O thread', 'EIO');
      if (step.op === 'sync') return new IoError('fdatasync', step.handle.path, code);
      if (step.op === 'rename') return new IoError('rename', `${step.from} -> ${step.to}`, code);
      return new IoError('fsync', step.dir, code);
    };
    const done = ended.then(() => {
      const o = outcome();
      if (o instanceof Error) throw o;
    });
    done.catch(() => {}); // reported through state(); `done` rejects for those who await it
    return {
      state: outcome,
      done,
      wait: () => {
        const start = Date.now();
        while (Atomics.load(state, 0) === 0) {
          if (Atomics.wait(state, 0, 0, 1000) === 'timed-out' && Date.now() - start > BACKGROUND_WAIT_LIMIT_MS) {
            if (Atomics.compareExchange(state, 0, 0, 2) === 0) Atomics.store(state, 1, -1);
          }
        }
      },
    };
  }

  readdir(dir: string): string[] {
    try {
      return fs.readdirSync(dir).sort();
    } catch (err) {
      throw wrap('readdir', dir, err);
    }
  }

  mkdir(dir: string, options: { recursive?: boolean; mode?: number } = {}): void {
    try {
      fs.mkdirSync(dir, { recursive: options.recursive ?? false, mode: options.mode ?? dirModeFor(fileModeFor(dir)) });
    } catch (err) {
      throw wrap('mkdir', dir, err);
    }
  }

  rename(from: string, to: string): void {
    try {
      fs.renameSync(from, to);
    } catch (err) {
      throw wrap('rename', `${from} -> ${to}`, err);
    }
  }

  unlink(path: string): void {
    try {
      fs.unlinkSync(path);
    } catch (err) {
      throw wrap('unlink', path, err);
    }
  }

  rmdir(dir: string): void {
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      throw wrap('rmdir', dir, err);
    }
  }

  /**
   * fsync of the directory itself, so that entries created, renamed or removed in it survive a
   * power loss. Windows cannot open a directory for fsync (NTFS journals metadata), so it is a
   * no-op there. As PostgreSQL's fsync_fname does, EBADF/EINVAL from a file system that does not
   * support fsync on directories is ignored; every other error is thrown (I8).
   */
  syncDir(dir: string): void {
    if (process.platform === 'win32') return;
    let fd: number;
    try {
      fd = fs.openSync(dir, fs.constants.O_RDONLY);
    } catch (err) {
      throw wrap('open', dir, err);
    }
    try {
      fs.fsyncSync(fd);
    } catch (err) {
      const code = errnoOf(err);
      if (code !== 'EBADF' && code !== 'EINVAL') {
        fs.closeSync(fd);
        throw wrap('fsync', dir, err);
      }
    }
    try {
      fs.closeSync(fd);
    } catch (err) {
      throw wrap('close', dir, err);
    }
  }

  readFile(path: string): Buffer {
    try {
      return fs.readFileSync(path);
    } catch (err) {
      throw wrap('read', path, err);
    }
  }

  writeFile(path: string, data: Uint8Array, options: { mode?: number } = {}): void {
    try {
      fs.writeFileSync(path, data, { mode: options.mode ?? fileModeFor(path) });
    } catch (err) {
      throw wrap('write', path, err);
    }
  }
}

export const nodeVfs = new NodeVfs();

/**
 * The kernel's boot id (Linux /proc/sys/kernel/random/boot_id), or undefined elsewhere. The owner
 * lock records it so that a lock left by a power loss or reboot is known stale even when its
 * pid now belongs to an unrelated process (I9).
 */
export function readBootId(): string | undefined {
  try {
    const id = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}

/**
 * The one-letter state of a process from Linux /proc/<pid>/stat ('R', 'S', 'Z' zombie, 'X' dead,
 * ...), or undefined when unknown (no such process, not Linux). A zombie has exited but still
 * answers kill(pid, 0); the owner lock must treat it as dead (I9).
 */
export function readProcessState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may contain spaces and parentheses; the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 1).trim()[0];
    return state === undefined || state === '' ? undefined : state;
  } catch {
    return undefined;
  }
}

