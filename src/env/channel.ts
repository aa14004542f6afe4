// The live coordination channel (issue 3, docs/BACKUP.md §Live coordination): the process that
// owns an environment serves a Unix socket in the home through which the utilities, running as
// separate processes, ask for a checkpoint, pin the log files a backup is copying (I5), list or
// remove inactive logs, and read status.
//
// Where: `<home>/__cairn.sock`, mode 0600 (only the owner's user can connect), bound inside a
// private 0700 directory and renamed into place, so that it is never reachable with other
// permissions (io/socket.ts listenPrivate; F7). When that path is too long for a socket address
// (about 100 bytes with the binding directory), the socket lives in a private directory under
// os.tmpdir() (`cairn-<uid>/`, mode 0700) with a name hashed from the home, and
// `<home>/__cairn.sock.path` records where. The owner holds the environment's lock, so any socket
// file found at start is a stale one left by a killed owner and is removed.
//
// Protocol: newline-delimited JSON. One request per line, `{"id"?: any, "op": "...", ...}`;
// one reply per request, in order, `{"id", "ok": true, ...}` or `{"id", "ok": false, "error":
// "...", "code": "..."}`. Ops:
//   status                       pid, home, envId, directories, redo point, end of log, log files,
//                                removable logs, pins, checkpoint and counters
//   checkpoint                   runs a checkpoint; replies with the new redo point
//   archive {remove?}            removable log files (and removes them with remove: true)
//   pin {from?}                  flushes the log, then keeps log files from `from` (default: the
//                                oldest present; at most the current log file) from being removed
//                                until unpin or until this connection closes; replies with a pin
//                                id, the redo point, the end of the log and the removable list as
//                                it was before pinning
//   unpin {pin}                  releases a pin of this connection
// Limits (F16): a request line over 64 KiB gets an error reply and the connection is closed;
// malformed JSON, a non-object or an unknown op get an error reply; at most 64 connections (the
// 65th gets the error line `the owner has reached its connection limit of 64` and is closed), 16
// queued requests per connection, 16 pins per connection and 256 in all (a pin beyond them is
// refused with code TOO_LARGE); a connection idle for 60 s (channelIdleMs) with no pin and no
// request being served, or with half a request line, gets an error line and is closed (a
// connection holding pins may stay silent: a backup copies while it holds its pin); a client
// that stops reading its replies is disconnected. Nothing here
// blocks the owner: the server and its sockets are unref'd (they never keep the process alive),
// and requests do no I/O beyond what their op needs.
//
// Socket files are not part of the I/O seam (the Vfs has no sockets), so this file uses node:fs
// for them, and only for them.

import * as net from 'node:net';
import * as path from 'node:path';
import type { EnvironmentStat } from './environment.js';
import { nodeVfs } from '../io/node.js';
import { listLogFiles } from '../log/reader.js';
import { CairnError } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile } from '../util/lsn.js';
import { readOwner } from './lock.js';
import { listenPrivate, recordSocketPath, recordedSocketPath, socketPlace, unlinkQuietly } from '../io/socket.js';

export const SOCKET_FILE = '__cairn.sock';
export const SOCKET_PATH_FILE = '__cairn.sock.path';
export const MAX_REQUEST_BYTES = 64 * 1024;
export const MAX_CONNECTIONS = 64;
const MAX_QUEUED = 16;
export const MAX_PINS_PER_CONNECTION = 16;
export const MAX_PINS = 256;
export const DEFAULT_IDLE_MS = 60_000;
const MAX_UNREAD_REPLY_BYTES = 1024 * 1024;

/** What the channel needs from the environment (Environment satisfies it). */
export interface ChannelHost {
  readonly home: string;
  readonly envId: Buffer;
  readonly dirs: { home: string; logDir: string; dataDirs: string[]; createDir: string };
  readonly redoPoint: Lsn;
  readonly logEnd: Lsn;
  stat(): EnvironmentStat;
  checkpoint(): Promise<void>;
  flushLog(): Promise<void>;
  removableLogs(): number[];
  pinLogs(fromFile: number): () => void;
  /** db_archive -d: removes the removable log files, returns them (env/archival.ts). */
  removeArchivableLogs(): number[];
}

export interface Channel {
  /** Where the socket is. */
  readonly socketPath: string;
  /** Resolves once the socket is bound and private (or failed to bind: the environment works without it). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** The status reply. LSNs are given both as numbers (file * 2^32 + offset) and printed. */
export interface ChannelStatus {
  pid: number;
  home: string;
  envId: string;
  logDir: string;
  dataDirs: string[];
  createDir: string;
  redo: Lsn;
  redoText: string;
  end: Lsn;
  endText: string;
  logFileSize: number;
  logFiles: number[];
  removable: number[];
  pins: Array<{ id: number; from: number }>;
  checkpoints: number;
  lastCheckpoint: string;
  lastCheckpointTime: number | undefined;
  logBytes: number;
  commits: number;
}

export interface PinReply {
  pin: number;
  from: number;
  redo: Lsn;
  end: Lsn;
  /** Removable logs as they were just before the pin was taken (for moving them: db_hotbackup -u). */
  removable: number[];
  logFiles: number[];
}

export interface ArchiveReply {
  logFiles: number[];
  removable: number[];
  removed: number[];
}

// ---- where the socket is -----------------------------------------------------------------------

/** The socket path for a home: in the home if it fits, else under a private tmp directory. */
export function socketPathFor(home: string): { path: string; inHome: boolean } {
  const place = socketPlace(home, SOCKET_FILE, path.resolve(home));
  return { path: place.path, inHome: place.inDir };
}

// ---- the server --------------------------------------------------------------------------------

interface Conn {
  socket: net.Socket;
  pins: Map<number, { from: number; release: () => void }>;
  queue: Promise<void>;
  queued: number;
  closed: boolean;
  /** Bytes of a request line received so far without its newline. */
  partial: number;
}

class ChannelServer implements Channel {
  readonly socketPath: string;
  private readonly host: ChannelHost;
  private readonly server: net.Server;
  private readonly conns = new Set<Conn>();
  private readonly pathFile: string | undefined;
  private nextPin = 1;
  private pinCount = 0;
  private closed = false;
  private listening: Promise<void>;
  private readonly idleMs: number;

  constructor(host: ChannelHost, options: { idleMs?: number } = {}) {
    this.host = host;
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    const where = socketPathFor(host.home);
    this.socketPath = where.path;
    // We hold the owner lock: whatever socket is there was left by a dead owner.
    unlinkQuietly(path.join(host.home, SOCKET_FILE));
    unlinkQuietly(path.join(host.home, SOCKET_PATH_FILE));
    if (!where.inHome) this.pathFile = path.join(host.home, SOCKET_PATH_FILE);
    // No maxConnections: past the limit, accept() answers with an error line (F16).
    this.server = net.createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    this.server.unref();
    this.listening = new Promise<void>((resolve) => {
      this.server.once('error', (e) => {
        // The environment works without its channel; utilities then report that the owner's
        // channel is not answering. Nothing to crash for.
        process.emitWarning(`cairn: coordination channel for ${host.home} not available: ${(e as Error).message}`);
        resolve();
      });
      // Bound with its final permissions: never reachable before it is 0600 (F7).
      try {
        if (!listenPrivate(this.server, this.socketPath)) return; // the 'error' event follows
      } catch (e) {
        process.emitWarning(`cairn: coordination channel for ${host.home} not available: ${(e as Error).message}`);
        resolve();
        return;
      }
      try {
        if (this.pathFile !== undefined) {
          recordSocketPath(this.pathFile, this.socketPath);
        }
      } catch (e) {
        process.emitWarning(`cairn: coordination channel for ${host.home}: ${(e as Error).message}`);
      }
      resolve();
    });
  }

  /** Resolves once the socket is bound (or failed to bind). */
  ready(): Promise<void> {
    return this.listening;
  }

  private accept(socket: net.Socket): void {
    socket.unref();
    if (this.closed) {
      socket.destroy();
      return;
    }
    const conn: Conn = { socket, pins: new Map(), queue: Promise.resolve(), queued: 0, closed: false, partial: 0 };
    if (this.conns.size >= MAX_CONNECTIONS) {
      // Say why, rather than a bare close that reads as "the owner exited" (F16).
      socket.on('error', () => {});
      this.reply(conn, { id: null, ok: false, code: 'LOCKED', error: `the owner has reached its connection limit of ${MAX_CONNECTIONS}; close idle connections to it (they time out after ${this.idleMs / 1000} s) and run the command again` });
      this.hangUp(conn);
      return;
    }
    this.conns.add(conn);
    socket.setTimeout(this.idleMs, () => {
      // Idle: a connection that holds pins may wait silently (a backup copying); one that holds
      // nothing, or sent half a line, is closed. A request being served is not idleness.
      if (conn.queued > 0 || (conn.pins.size > 0 && conn.partial === 0)) return;
      this.reply(conn, { id: null, ok: false, code: 'CLOSED', error: `connection idle for ${this.idleMs / 1000} s; closed by the owner` });
      this.hangUp(conn);
    });
    let pending: Buffer[] = [];
    let pendingLen = 0;
    socket.on('data', (chunk: Buffer) => {
      if (conn.closed) return;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(10, start);
        if (nl < 0) break;
        const part = chunk.subarray(start, nl);
        if (pendingLen + part.length > MAX_REQUEST_BYTES) return this.tooLong(conn);
        const line = pendingLen === 0 ? part : Buffer.concat([...pending, part]);
        pending = [];
        pendingLen = 0;
        start = nl + 1;
        this.enqueue(conn, line);
        if (conn.closed) return;
      }
      const rest = chunk.subarray(start);
      if (rest.length > 0) {
        if (pendingLen + rest.length > MAX_REQUEST_BYTES) return this.tooLong(conn);
        pending.push(Buffer.from(rest));
        pendingLen += rest.length;
      }
      conn.partial = pendingLen;
    });
    socket.on('error', () => {
      // a client that vanished: its pins are released on close
    });
    socket.on('close', () => this.drop(conn));
  }

  private tooLong(conn: Conn): void {
    this.reply(conn, { id: null, ok: false, code: 'INVALID_ARGUMENT', error: `request longer than ${MAX_REQUEST_BYTES} bytes; the channel takes one JSON object per line` });
    this.hangUp(conn);
  }

  private hangUp(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.socket.end();
    // Do not wait for a client that does not read.
    setTimeout(() => conn.socket.destroy(), 1000).unref();
  }

  private drop(conn: Conn): void {
    conn.closed = true;
    for (const p of conn.pins.values()) p.release();
    this.pinCount -= conn.pins.size;
    conn.pins.clear();
    this.conns.delete(conn);
  }

  private enqueue(conn: Conn, line: Buffer): void {
    if (conn.queued >= MAX_QUEUED) {
      this.reply(conn, { id: null, ok: false, code: 'INVALID_ARGUMENT', error: `more than ${MAX_QUEUED} requests waiting on one connection; wait for the replies` });
      this.hangUp(conn);
      return;
    }
    conn.queued++;
    conn.queue = conn.queue.then(async () => {
      try {
        if (!conn.closed) this.reply(conn, await this.handle(conn, line));
      } finally {
        conn.queued--;
      }
    });
  }

  private reply(conn: Conn, msg: Record<string, unknown>): void {
    const s = conn.socket;
    if (s.destroyed || !s.writable) return;
    if (s.writableLength > MAX_UNREAD_REPLY_BYTES) {
      s.destroy(); // the client stopped reading: it loses its pins, the owner loses nothing
      return;
    }
    s.write(`${JSON.stringify(msg)}\n`);
  }

  private async handle(conn: Conn, line: Buffer): Promise<Record<string, unknown>> {
    let req: unknown;
    const text = line.toString('utf8').trim();
    try {
      req = JSON.parse(text);
    } catch (e) {
      return { id: null, ok: false, code: 'INVALID_ARGUMENT', error: `malformed request (${(e as Error).message}); send one JSON object per line, e.g. {"op":"status"}` };
    }
    if (req === null || typeof req !== 'object' || Array.isArray(req)) {
      return { id: null, ok: false, code: 'INVALID_ARGUMENT', error: 'a request must be a JSON object with an "op", e.g. {"op":"status"}' };
    }
    const r = req as Record<string, unknown>;
    const id = r.id === undefined ? null : r.id;
    try {
      const out = await this.dispatch(conn, r);
      return { id, ok: true, ...out };
    } catch (e) {
      const code = e instanceof CairnError ? e.code : 'INTERNAL';
      return { id, ok: false, code, error: (e as Error).message };
    }
  }

  private async dispatch(conn: Conn, r: Record<string, unknown>): Promise<Record<string, unknown>> {
    const host = this.host;
    switch (r.op) {
      case 'status':
        return { ...this.status() };
      case 'checkpoint':
        await host.checkpoint();
        return { redo: host.redoPoint, redoText: formatLsn(host.redoPoint), end: host.logEnd };
      case 'archive': {
        const logFiles = listLogFiles(nodeVfs, host.dirs.logDir);
        const removable = host.removableLogs();
        let removed: number[] = [];
        if (r.remove === true) removed = host.removeArchivableLogs();
        const reply: ArchiveReply = { logFiles, removable, removed };
        return { ...reply };
      }
      case 'pin': {
        if (r.from !== undefined && !(Number.isInteger(r.from) && (r.from as number) >= 1 && (r.from as number) <= 0xffffffff)) throw new CairnError('INVALID_ARGUMENT', 'pin: "from" must be a log file number (an integer from 1 to 4294967295)');
        this.checkPinRoom(conn);
        await host.flushLog();
        const logFiles = listLogFiles(nodeVfs, host.dirs.logDir);
        const removable = host.removableLogs();
        const last = Math.max(logFiles[logFiles.length - 1] ?? 1, lsnFile(host.logEnd));
        if (r.from !== undefined && (r.from as number) > last) throw new CairnError('INVALID_ARGUMENT', `pin: "from" ${String(r.from)} is past the current log file ${last}`);
        this.checkPinRoom(conn); // again: the flush let other requests run
        const from = (r.from as number | undefined) ?? logFiles[0] ?? 1;
        const release = host.pinLogs(from);
        const id = this.nextPin++;
        if (conn.closed) {
          release();
          throw new CairnError('CLOSED', 'the connection closed');
        }
        conn.pins.set(id, { from, release });
        this.pinCount++;
        const reply: PinReply = { pin: id, from, redo: host.redoPoint, end: host.logEnd, removable, logFiles };
        return { ...reply };
      }
      case 'unpin': {
        const p = conn.pins.get(r.pin as number);
        if (p === undefined) throw new CairnError('NOT_FOUND', `unpin: no pin ${JSON.stringify(r.pin)} on this connection`);
        p.release();
        conn.pins.delete(r.pin as number);
        this.pinCount--;
        return {};
      }
      default:
        throw new CairnError('INVALID_ARGUMENT', `unknown op ${JSON.stringify(r.op)}; the channel serves status, checkpoint, archive, pin, unpin`);
    }
  }

  /** Pins are capped per connection and in all (F16): each one keeps log files and costs a flush. */
  private checkPinRoom(conn: Conn): void {
    if (conn.pins.size >= MAX_PINS_PER_CONNECTION) throw new CairnError('TOO_LARGE', `pin: this connection already holds ${MAX_PINS_PER_CONNECTION} pins, the limit; unpin one first`);
    if (this.pinCount >= MAX_PINS) throw new CairnError('TOO_LARGE', `pin: the owner already holds ${MAX_PINS} pins, the limit; wait for other backups to finish`);
  }

  private status(): ChannelStatus {
    const h = this.host;
    const st = h.stat();
    const pins: Array<{ id: number; from: number }> = [];
    for (const c of this.conns) for (const [id, p] of c.pins) pins.push({ id, from: p.from });
    return {
      pid: process.pid,
      home: h.home,
      envId: h.envId.toString('hex'),
      logDir: h.dirs.logDir,
      dataDirs: h.dirs.dataDirs,
      createDir: h.dirs.createDir,
      redo: h.redoPoint,
      redoText: formatLsn(h.redoPoint),
      end: h.logEnd,
      endText: formatLsn(h.logEnd),
      logFileSize: st.log.fileSize,
      logFiles: listLogFiles(nodeVfs, h.dirs.logDir),
      removable: h.removableLogs(),
      pins,
      checkpoints: st.checkpoint.count,
      lastCheckpoint: st.checkpoint.last,
      lastCheckpointTime: st.checkpoint.lastTime?.getTime(),
      logBytes: st.log.bytes,
      commits: st.txn.commits,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.listening;
    for (const c of this.conns) {
      for (const p of c.pins.values()) p.release();
      this.pinCount -= c.pins.size;
      c.pins.clear();
      c.closed = true;
      c.socket.destroy();
    }
    this.conns.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    unlinkQuietly(this.socketPath);
    if (this.pathFile !== undefined) unlinkQuietly(this.pathFile);
  }
}

/** Starts serving the channel for an open environment (called by Environment.open). */
export function startChannel(host: ChannelHost, options: { idleMs?: number } = {}): Channel {
  try {
    return new ChannelServer(host, options);
  } catch (e) {
    // The environment works without its channel; utilities then say the owner's channel does not answer.
    process.emitWarning(`cairn: coordination channel for ${host.home} not available: ${(e as Error).message}`);
    return { socketPath: '', ready: async () => {}, close: async () => {} };
  }
}

// ---- the client --------------------------------------------------------------------------------

/** How long a utility waits for the owner's reply (a checkpoint may write the whole cache). */
const REPLY_MS = Number(process.env.CAIRN_CHANNEL_REPLY_MS ?? 30_000);
const CHECKPOINT_REPLY_MS = 300_000;

/** A utility's connection to the owner of an environment. */
export class ChannelClient {
  readonly pid: number;
  readonly socketPath: string;
  private readonly socket: net.Socket;
  private buffered = '';
  private waiting: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }> = [];
  private closedError: Error | undefined;
  /** How long to wait for a reply before giving up with an error (ms). */
  replyMs = REPLY_MS;

  /** @internal use connectChannel */
  constructor(socket: net.Socket, pid: number, socketPath: string) {
    this.socket = socket;
    this.pid = pid;
    this.socketPath = socketPath;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        const w = this.waiting.shift();
        if (w === undefined) {
          // A line nobody asked for: the owner says why it closes this connection (its
          // connection limit, idleness). Keep it for the request that meets the closed socket.
          try {
            const msg = JSON.parse(line) as Record<string, unknown>;
            if (msg.ok === false && typeof msg.error === 'string') {
              const code = typeof msg.code === 'string' && msg.code !== 'INTERNAL' ? (msg.code as CairnError['code']) : 'IO';
              this.closedError ??= new CairnError(code, `the owner of the environment (pid ${pid}) closed the coordination channel: ${msg.error}`);
            }
          } catch {
            // not JSON: ignore
          }
          continue;
        }
        try {
          w.resolve(JSON.parse(line) as Record<string, unknown>);
        } catch (e) {
          w.reject(new CairnError('IO', `bad reply from the owner (pid ${pid}): ${(e as Error).message}`));
        }
      }
    });
    const fail = (e?: Error) => {
      this.closedError ??= new CairnError('IO', `the owner of the environment (pid ${pid}) closed the coordination channel${e ? ` (${e.message})` : ''}; it may have exited: run the command again`);
      for (const w of this.waiting) w.reject(this.closedError);
      this.waiting = [];
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  /** Sends one request; resolves with the reply's fields or rejects with the owner's error. */
  async request<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.closedError) throw this.closedError;
    const waitMs = op === 'checkpoint' ? Math.max(this.replyMs, CHECKPOINT_REPLY_MS) : this.replyMs;
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      // Never wait forever: an owner that is blocked (e.g. this tool was run synchronously from
      // inside the owning process) cannot answer. Replies are matched in order, so a request
      // that timed out ends the connection.
      const timer = setTimeout(() => {
        this.closedError ??= new CairnError('IO', `the owner of the environment (pid ${this.pid}) did not answer "${op}" within ${waitMs / 1000} s; it may be blocked (a tool run synchronously from inside the owning process can never be answered) or overloaded: check that process, then run the command again`);
        reject(this.closedError);
        this.socket.destroy();
      }, waitMs);
      this.waiting.push({
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.write(`${JSON.stringify({ ...args, op })}\n`);
    });
    if (reply.ok !== true) {
      const code = typeof reply.code === 'string' && reply.code !== 'INTERNAL' ? (reply.code as CairnError['code']) : 'IO';
      throw new CairnError(code, `the owner (pid ${this.pid}) refused ${op}: ${String(reply.error)}`);
    }
    return reply as T;
  }

  status(): Promise<ChannelStatus> {
    return this.request<ChannelStatus>('status');
  }

  checkpoint(): Promise<{ redo: Lsn; end: Lsn }> {
    return this.request('checkpoint');
  }

  archive(remove = false): Promise<ArchiveReply> {
    return this.request<ArchiveReply>('archive', { remove });
  }

  pin(from?: number): Promise<PinReply> {
    return this.request<PinReply>('pin', from === undefined ? {} : { from });
  }

  async unpin(pin: number): Promise<void> {
    await this.request('unpin', { pin });
  }

  /** Closes the connection (the owner releases this connection's pins). */
  close(): void {
    this.closedError ??= new CairnError('CLOSED', 'the channel connection was closed');
    this.socket.destroy();
  }
}

/** Where the owner of `home` serves its channel. */
export function channelPath(home: string): string {
  return recordedSocketPath(path.join(home, SOCKET_PATH_FILE)) ?? socketPathFor(home).path;
}

/**
 * Connects to the live owner of `home`. Undefined when no live process owns the environment
 * (the caller may then open it itself); throws when an owner is alive but its channel does not
 * answer (it opened the environment read-only, or is still starting, or is stuck).
 */
export async function connectChannel(home: string, options: { timeoutMs?: number } = {}): Promise<ChannelClient | undefined> {
  home = path.resolve(home);
  const owner = readOwner(nodeVfs, home);
  if (owner === undefined || !owner.alive) return undefined;
  const timeoutMs = options.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  // The owner binds its socket just after taking the lock: retry briefly while it starts.
  for (;;) {
    const where = channelPath(home);
    try {
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(where);
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error('timed out'));
        }, Math.max(1, deadline - Date.now()));
        s.once('connect', () => {
          clearTimeout(timer);
          resolve(s);
        });
        s.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
      return new ChannelClient(socket, owner.pid, where);
    } catch (e) {
      lastError = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
    const again = readOwner(nodeVfs, home);
    if (again === undefined || !again.alive) return undefined;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CairnError(
    'LOCKED',
    `environment ${home} is open in process ${owner.pid}, but its coordination channel ${channelPath(home)} does not answer (${lastError}); it may have opened the environment read-only: stop it, or retry once it is running`,
  );
}
