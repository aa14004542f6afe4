// Unix sockets of an owner: bound with their final permissions, and probed synchronously.
//
// listenPrivate (issue 16 item 8, F7): a socket file takes its mode from the umask at bind time,
// and a connection accepted before a later chmod survives it. So a socket is never bound where
// others can reach it: it is bound inside a fresh private directory (mode 0700) next to its final
// place, made 0600 there, and then renamed into place (a rename keeps the bound inode). A path
// too long for a socket address is bound in the per-user private directory under os.tmpdir()
// (`cairn-<uid>/`, 0700) instead, where it stays. Node binds synchronously inside listen(), so
// this is synchronous: when listenPrivate returns true the socket accepts connections at its path.
//
// probeSocket (I9): whether a process is listening on a socket path, answered synchronously (the
// owner lock is taken and read by synchronous code) by a short-lived worker thread that connects
// while this thread waits on shared memory. A unix socket works across PID namespaces, containers
// sharing a volume and threads of one process, which a pid cannot; the kernel completes the
// connection into the listen backlog, so an owner whose event loop is busy (or is this thread,
// blocked here) still answers.
//
// Socket files are not part of the I/O seam (the Vfs has no sockets), so this file uses node:fs
// for them, and only for them.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CairnError } from '../util/errors.js';

/** Longest socket path we bind to (sun_path is 108 bytes on Linux, 104 on macOS, with the NUL). */
export const MAX_SOCKET_PATH = 100;

/** The per-user private directory for sockets whose path in the home would be too long. */
export function privateTmpDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return path.join(os.tmpdir(), `cairn-${uid}`);
}

/** Makes the private tmp directory (0700, ours, not a symlink). */
export function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(dir);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (!st.isDirectory() || st.uid !== uid) throw new CairnError('IO', `${dir} is not a private directory of this user; remove it so that cairn can make its own`);
  if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

export function unlinkQuietly(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch {
    // not there: nothing to remove
  }
}

/**
 * Where to bind a socket named `name` of directory `dir`: there, if the path of its private
 * binding directory fits a socket address, else in privateTmpDir() under a name hashed from `key`.
 */
export function socketPlace(dir: string, name: string, key: string): { path: string; inDir: boolean } {
  const inDir = path.join(dir, name);
  const binding = path.join(dir, '__cairn.b00000000', 's');
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH && Buffer.byteLength(binding) <= MAX_SOCKET_PATH) return { path: inDir, inDir: true };
  return { path: tmpSocketPath(key), inDir: false };
}

/** A socket path in privateTmpDir() named by a hash of `key`. */
export function tmpSocketPath(key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 24);
  return path.join(privateTmpDir(), `${hash}.sock`);
}

/** @internal Test hook: called with the socket's path and mode just before it is renamed into place. */
export const hooks: { beforeRename?: (boundPath: string, mode: number) => void } = {};

/**
 * Binds `server` at `final` (replacing what is there) so that the socket is never reachable with
 * other permissions than 0600. Returns false when binding failed (the error is emitted on the
 * server as usual). `final` must fit a socket address (MAX_SOCKET_PATH).
 */
export function listenPrivate(server: net.Server, final: string): boolean {
  const dir = path.dirname(final);
  const inPrivateDir = dir === privateTmpDir();
  if (inPrivateDir) {
    // Already private (0700, ours): bind in place.
    ensurePrivateDir(dir);
    unlinkQuietly(final);
    server.listen(final);
    if (!server.listening) return false;
    fs.chmodSync(final, 0o600);
    return true;
  }
  const tmpDir = path.join(dir, `__cairn.b${randomBytes(4).toString('hex')}`);
  const bound = path.join(tmpDir, 's');
  fs.mkdirSync(tmpDir, { mode: 0o700 });
  try {
    fs.chmodSync(tmpDir, 0o700); // the umask may have taken our own bits
    server.listen(bound);
    if (!server.listening) return false;
    fs.chmodSync(bound, 0o600);
    hooks.beforeRename?.(bound, fs.statSync(bound).mode & 0o777);
    fs.renameSync(bound, final);
    return true;
  } catch (e) {
    if (server.listening) server.close();
    throw e;
  } finally {
    try {
      fs.rmdirSync(tmpDir);
    } catch {
      // left behind only if the rename failed: harmless, private
    }
  }
}

/**
 * Linux: whether /proc/net/unix lists a listening socket bound at exactly `p` (this network
 * namespace only, and only under the name it was bound with: a miss proves nothing).
 */
function listedAsListening(p: string): boolean {
  let table: string;
  try {
    table = fs.readFileSync('/proc/net/unix', 'latin1');
  } catch {
    return false;
  }
  // "Num RefCount Protocol Flags Type St Inode Path": Flags 00010000 is __SO_ACCEPTCON (listening).
  let at = table.indexOf(` ${p}\n`);
  while (at >= 0) {
    const line = table.slice(table.lastIndexOf('\n', at) + 1, at);
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 7 && (parseInt(fields[3]!, 16) & 0x10000) !== 0) return true;
    at = table.indexOf(` ${p}\n`, at + 1);
  }
  return false;
}

/**
 * Binds `server` right at `sock` (replacing a file there), then makes it 0600. For sockets that
 * carry nothing (the lock's liveness socket), where a connection in between gains nothing.
 */
export function listenInPlace(server: net.Server, sock: string): boolean {
  if (path.dirname(sock) === privateTmpDir()) ensurePrivateDir(path.dirname(sock));
  unlinkQuietly(sock);
  server.listen(sock);
  if (!server.listening) return false;
  fs.chmodSync(sock, 0o600);
  return true;
}

/** What probeSocket found. */
export type Probe = 'alive' | 'dead' | 'missing' | 'unknown';

const PROBE_THREAD = `
const { workerData } = require('node:worker_threads');
const net = require('node:net');
const flag = new Int32Array(workerData.shared);
const s = net.createConnection(workerData.path);
const done = (v) => { Atomics.store(flag, 0, v); Atomics.notify(flag, 0); s.destroy(); };
s.once('connect', () => done(1));
s.once('error', (e) => done(e.code === 'ECONNREFUSED' ? 2 : e.code === 'ENOENT' ? 3 : 4));
`;

/**
 * Whether a process listens on the unix socket `p`: 'alive' (it accepted), 'dead' (the socket
 * file is there but nobody listens: its process is gone), 'missing' (no such file), 'unknown'
 * (no permission, backlog full, timeout: the caller must assume alive). Synchronous.
 */
export function probeSocket(p: string, timeoutMs = 5000): Probe {
  if (listedAsListening(p)) return 'alive'; // the fast path: no thread to start
  const shared = new SharedArrayBuffer(4);
  const flag = new Int32Array(shared);
  let worker: Worker;
  try {
    // execArgv: [] — not the parent's (--input-type=module would make this script an ES module).
    worker = new Worker(PROBE_THREAD, { eval: true, execArgv: [], workerData: { path: p, shared } });
  } catch {
    return 'unknown';
  }
  worker.unref();
  worker.on('error', () => {
    // reported as 'unknown' below
  });
  Atomics.wait(flag, 0, 0, timeoutMs);
  void worker.terminate();
  switch (Atomics.load(flag, 0)) {
    case 1:
      return 'alive';
    case 2:
      return 'dead';
    case 3:
      return 'missing';
    default:
      return 'unknown';
  }
}

/** Records where a socket is (a socket address too long for the home: the redirection file), atomically, 0600. */
export function recordSocketPath(file: string, socketPath: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${socketPath}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** The socket path a redirection file records, or undefined when there is none (the socket is in the home). */
export function recordedSocketPath(file: string): string | undefined {
  try {
    const recorded = fs.readFileSync(file, 'utf8').trim();
    return recorded === '' ? undefined : recorded;
  } catch {
    return undefined;
  }
}
