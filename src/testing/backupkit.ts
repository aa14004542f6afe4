// Helpers for the backup and utility tests: run the real bins as an operator would, drive a
// writer child process, snapshot directories, and check a recovered copy.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Environment } from '../env/environment.js';
import { SimVfs } from '../io/sim.js';
import type { FileHandle, OpenOptions, Stat, Vfs } from '../io/vfs.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');

export function bin(name: string): string {
  return path.join(ROOT, 'bin', `${name}.js`);
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/<name>.js args…` in `cwd`; resolves when it exits. */
export function run(name: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin(name), ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs a tool and throws (with its output) unless it exits 0. */
export async function ok(name: string, args: string[], options: { cwd?: string } = {}): Promise<Run> {
  const r = await run(name, args, options);
  if (r.code !== 0) throw new Error(`${name} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

export function tmpdir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cairn-${prefix}-`));
}

/**
 * A writer fixture (writer.fixture.ts, multiwriter.fixture.ts) as a child process speaking lines on
 * stdout: `ready …` once, then whatever `onLine` handles (`ack …`). `ready` rejects if it exits first.
 */
export function fixtureProcess(args: string[], onLine: (words: string[]) => void): { child: ChildProcess; ready: Promise<void>; exited: Promise<void>; stderr: () => string } {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let buf = '';
  let readyResolve: () => void;
  let readyReject: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const words = buf.slice(0, nl).split(' ');
      buf = buf.slice(nl + 1);
      if (words[0] === 'ready') readyResolve();
      else onLine(words);
    }
  });
  const exited = new Promise<void>((res) =>
    child.on('exit', () => {
      readyReject(new Error(`writer exited before it was ready: ${stderr}`));
      res();
    }),
  );
  return { child, ready, exited, stderr: () => stderr };
}

/** The writer fixture as a child process; `acked` is the last acknowledged commit number. */
export class Writer {
  readonly child: ChildProcess;
  acked = 0;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private readonly err: () => string;

  constructor(home: string, opts: { logFileSize?: number; checkpointKb?: number; delayMs?: number } = {}) {
    const script = path.join(here, 'writer.fixture.js');
    const p = fixtureProcess([script, home, String(opts.logFileSize ?? 65536), String(opts.checkpointKb ?? 128), String(opts.delayMs ?? 0)], (words) => {
      if (words[0] !== 'ack') return;
      this.acked = Number(words[1]);
      this.waiters = this.waiters.filter((w) => (w.n <= this.acked ? (w.resolve(), false) : true));
    });
    ({ child: this.child, ready: this.ready, exited: this.exited, stderr: this.err } = p);
  }

  get stderr(): string {
    return this.err();
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves once at least `n` more commits (from now) are acknowledged. */
  more(n: number): Promise<void> {
    const target = this.acked + n;
    return new Promise((resolve) => this.waiters.push({ n: target, resolve }));
  }

  async kill9(): Promise<number> {
    this.child.kill('SIGKILL');
    await this.exited;
    return this.acked;
  }
}

/** Keys n:000000001 … in orders.db of a recovered copy: count and the largest contiguous prefix. */
export async function committed(dir: string): Promise<{ count: number; prefix: number; max: number }> {
  const env = await Environment.open(dir, { readOnly: true });
  try {
    const db = await env.openDatabase('orders.db');
    let count = 0;
    let prefix = 0;
    let max = 0;
    let contiguous = true;
    for (const [k] of db.range()) {
      const n = Number(k.toString('utf8').slice(2));
      count++;
      max = Math.max(max, n);
      if (contiguous && n === prefix + 1) prefix = n;
      else contiguous = false;
    }
    return { count, prefix, max };
  } finally {
    await env.close();
  }
}

/** Names and content hashes of every file under dir (to prove a refused command changed nothing). */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) {
        out.set(path.relative(dir, p) + '/', 'dir');
        walk(p);
      } else out.set(path.relative(dir, p), st.isSocket() ? 'socket' : createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** Copies a file with reads of `chunk` bytes (a fuzzy copy, as an operator's cp would make). */
export function copyWithReads(from: string, to: string, chunk: number): void {
  const src = fs.openSync(from, 'r');
  const dst = fs.openSync(to, 'w');
  try {
    const buf = Buffer.alloc(chunk);
    let at = 0;
    for (;;) {
      const n = fs.readSync(src, buf, 0, chunk, at);
      if (n === 0) break;
      fs.writeSync(dst, buf, 0, n, at);
      at += n;
    }
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

export function logsIn(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => /^log\.\d{10}$/.test(n)).sort();
}

// ---- interleavings at I/O granularity on the simulated file system (interleave.test.ts) -------
//
// Vfs calls are synchronous, so a live writer cannot be stopped in the middle of a copier's
// synchronous burst. Instead the writer runs once, live, on a RecordingVfs that logs every call
// that changes what a reader sees (open for writing, write, truncate, close, mkdir, rename,
// unlink, rmdir, writeFile); a Replica replays that log onto a fresh SimVfs, and the copier works
// on a ScheduledVfs whose every call (open, read, write, size, truncate, sync, stat, readdir,
// mkdir, rename, unlink, syncDir, readFile, writeFile) first lets the replica advance by as many
// writer calls as a seeded scheduler says. Each writer call is atomic; the copier sees the file
// system after any prefix of them. Syncs are not replayed: they change no byte a reader sees.
// Sound as long as the writer does not depend on the copier (no log removal during the run, no
// checkpoint requested by the copier); file handles follow their inode across a rename as on
// POSIX (a log file moved out of the primary keeps receiving the writer's writes).

export type WriterOp =
  | { op: 'open'; h: number; path: string; options: OpenOptions }
  | { op: 'write'; h: number; pos: number; data: Buffer }
  | { op: 'truncate'; h: number; length: number }
  | { op: 'close'; h: number }
  | { op: 'mkdir'; path: string; recursive: boolean }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'writeFile'; path: string; data: Buffer };

/** A Vfs that logs the calls that change what a reader sees; `after` runs after each logged call. */
export class RecordingVfs implements Vfs {
  readonly ops: WriterOp[] = [];
  after?: () => void;
  #next = 1;

  constructor(readonly inner: Vfs) {}

  #log(op: WriterOp): void {
    this.ops.push(op);
    this.after?.();
  }

  open(p: string, options: OpenOptions = {}): FileHandle {
    const fh = this.inner.open(p, options);
    if (options.readOnly === true) return fh;
    const h = this.#next++;
    this.#log({ op: 'open', h, path: p, options: { ...options } });
    return {
      path: fh.path,
      read: (b, at) => fh.read(b, at),
      write: (b, at) => {
        fh.write(b, at);
        this.#log({ op: 'write', h, pos: at, data: Buffer.from(b) });
      },
      size: () => fh.size(),
      truncate: (n) => {
        fh.truncate(n);
        this.#log({ op: 'truncate', h, length: n });
      },
      sync: () => fh.sync(),
      syncAsync: () => fh.syncAsync(),
      close: () => {
        fh.close();
        this.#log({ op: 'close', h });
      },
    };
  }
  stat(p: string): Stat | undefined {
    return this.inner.stat(p);
  }
  readdir(dir: string): string[] {
    return this.inner.readdir(dir);
  }
  mkdir(dir: string, options: { recursive?: boolean; mode?: number } = {}): void {
    this.inner.mkdir(dir, options);
    this.#log({ op: 'mkdir', path: dir, recursive: options.recursive === true });
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
    this.#log({ op: 'rename', from, to });
  }
  unlink(p: string): void {
    this.inner.unlink(p);
    this.#log({ op: 'unlink', path: p });
  }
  rmdir(dir: string): void {
    this.inner.rmdir(dir);
    this.#log({ op: 'rmdir', path: dir });
  }
  syncDir(dir: string): void {
    this.inner.syncDir(dir);
  }
  readFile(p: string): Buffer {
    return this.inner.readFile(p);
  }
  writeFile(p: string, data: Uint8Array, options: { mode?: number } = {}): void {
    this.inner.writeFile(p, data, options);
    this.#log({ op: 'writeFile', path: p, data: Buffer.from(data) });
  }
}

/** Replays a writer's logged calls onto a fresh SimVfs, `at` calls so far. */
export class Replica {
  readonly vfs = new SimVfs();
  at = 0;
  /** While true, advance() does nothing (the primary was dropped). */
  stopped = false;
  readonly #handles = new Map<number, FileHandle>();

  constructor(readonly ops: readonly WriterOp[]) {}

  get done(): boolean {
    return this.at >= this.ops.length;
  }

  advance(n: number): void {
    if (this.stopped) return;
    const end = Math.min(this.ops.length, this.at + n);
    while (this.at < end) this.#apply(this.ops[this.at++]!);
  }

  #handle(h: number): FileHandle {
    const fh = this.#handles.get(h);
    if (fh === undefined) throw new Error(`replica: writer handle ${h} is not open at writer call ${this.at}`);
    return fh;
  }

  #apply(o: WriterOp): void {
    const v = this.vfs;
    switch (o.op) {
      case 'open':
        this.#handles.set(o.h, v.open(o.path, o.options));
        return;
      case 'write':
        this.#handle(o.h).write(o.data, o.pos);
        return;
      case 'truncate':
        this.#handle(o.h).truncate(o.length);
        return;
      case 'close':
        this.#handle(o.h).close();
        this.#handles.delete(o.h);
        return;
      case 'mkdir':
        v.mkdir(o.path, { recursive: o.recursive });
        return;
      case 'rename':
        v.rename(o.from, o.to);
        return;
      case 'unlink':
        v.unlink(o.path);
        return;
      case 'rmdir':
        v.rmdir(o.path);
        return;
      case 'writeFile':
        v.writeFile(o.path, o.data);
        return;
    }
  }
}

/**
 * The copier's view of the replica: before every call, `step(call, path)` says how many writer
 * calls run first; then `seen(call, path)` is told (at the writer position the call runs at).
 */
export class ScheduledVfs implements Vfs {
  calls = 0;

  constructor(
    readonly replica: Replica,
    readonly step: (call: string, path: string) => number,
    readonly seen: (call: string, path: string) => void = () => {},
  ) {}

  #tick(call: string, p: string): void {
    this.calls++;
    this.replica.advance(this.step(call, p));
    this.seen(call, p);
  }

  open(p: string, options: OpenOptions = {}): FileHandle {
    this.#tick('open', p);
    const fh = this.replica.vfs.open(p, options);
    const tick = (call: string) => this.#tick(call, fh.path);
    return {
      path: fh.path,
      read: (b, at) => (tick('read'), fh.read(b, at)),
      write: (b, at) => (tick('write'), fh.write(b, at)),
      size: () => (tick('size'), fh.size()),
      truncate: (n) => (tick('truncate'), fh.truncate(n)),
      sync: () => (tick('sync'), fh.sync()),
      syncAsync: () => (tick('sync'), fh.syncAsync()),
      close: () => fh.close(),
    };
  }
  stat(p: string): Stat | undefined {
    this.#tick('stat', p);
    return this.replica.vfs.stat(p);
  }
  readdir(dir: string): string[] {
    this.#tick('readdir', dir);
    return this.replica.vfs.readdir(dir);
  }
  mkdir(dir: string, options: { recursive?: boolean; mode?: number } = {}): void {
    this.#tick('mkdir', dir);
    this.replica.vfs.mkdir(dir, options);
  }
  rename(from: string, to: string): void {
    this.#tick('rename', from);
    this.replica.vfs.rename(from, to);
  }
  unlink(p: string): void {
    this.#tick('unlink', p);
    this.replica.vfs.unlink(p);
  }
  rmdir(dir: string): void {
    this.#tick('rmdir', dir);
    this.replica.vfs.rmdir(dir);
  }
  syncDir(dir: string): void {
    this.#tick('syncDir', dir);
    this.replica.vfs.syncDir(dir);
  }
  readFile(p: string): Buffer {
    this.#tick('readFile', p);
    return this.replica.vfs.readFile(p);
  }
  writeFile(p: string, data: Uint8Array, options: { mode?: number } = {}): void {
    this.#tick('writeFile', p);
    this.replica.vfs.writeFile(p, data, options);
  }
}

/** A raw connection to a channel socket (tests of the owner's channel): write text, read reply lines as parsed JSON. */
export interface RawChannel {
  send: (t: string) => void;
  next: () => Promise<Record<string, unknown>>;
  closed: Promise<void>;
  socket: net.Socket;
}

export async function rawConnect(socketPath: string): Promise<RawChannel> {
  const socket = net.createConnection(socketPath);
  await new Promise<void>((res, rej) => socket.once('connect', res).once('error', rej));
  let buf = '';
  const lines: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  socket.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((res) => socket.on('close', () => res()));
  return {
    send: (t) => void socket.write(t),
    next: async () => JSON.parse(lines.length > 0 ? lines.shift()! : await new Promise<string>((res) => waiting.push(res))) as Record<string, unknown>,
    closed,
    socket,
  };
}
