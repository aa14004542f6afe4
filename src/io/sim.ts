// SimVfs: an in-memory, deterministic file system that knows what a power loss keeps
// (reliability.md §9.0–9.1, §9.8–9.9; after SQLite test6.c, ALICE and Pebble's MemFS).
//
// State model
//   file data   Every file (inode) has *current* bytes (what reads see; the OS page cache) and
//               *durable* bytes (what the platter holds), plus the ordered log of operations
//               (write, truncate) issued since they last diverged. write()/truncate() change the
//               current bytes and append to the log. sync() replays the log onto the durable
//               bytes and clears it. syncAsync() covers the operations issued before the call
//               and takes effect on a later tick (setImmediate), like fdatasync on a thread pool.
//               prepare() creates a file at once, then zero-fills it and syncs it on later ticks;
//               background() runs its steps (syncs, renames, directory syncs) one per later tick,
//               or all that are left at once when wait() is called (a crash point each, faults apply).
//   entries     The namespace (create, mkdir, rename, unlink, rmdir) has a *current* and a
//               *durable* version too. Each directory operation stays pending until syncDir() of
//               its parent directory (both parents for a rename); pending operations are kept in
//               order, so a crash can keep any subset of them (POSIX-pessimistic).
//   fsyncgate   A sync that fails (injected fault) leaves the durable bytes unchanged AND forgets
//               the operations it covered, as Linux marks the pages clean: a later sync that
//               succeeds does not make them durable (§9.8). Reads still see them until a crash.
//               This is why an fsync must never be retried (I8).
//
// crash({ seed, mode }) returns a NEW SimVfs holding what survives, everything in it durable:
//   'drop'    durable state only: every unsynced write and directory operation is lost;
//   'keep'    the current state exactly (what a process crash / kill -9 leaves; page cache lives);
//   'torn'    each unsynced write keeps a seeded subset of its 512-byte sectors; each unsynced
//             truncate and directory operation is kept or undone (seeded);
//   'random'  per unsynced write a seeded choice of kept, dropped, torn, or (for the part of the
//             write that extended the file) garbage or zeros; truncates and directory operations
//             kept or undone (seeded);
//   'prefix'  ordered-append profile: a seeded prefix of all pending operations, in issue order,
//             survives; the write at the cut keeps a prefix of its sectors.
// Same seed and same history → byte-identical image (no clock, no Math.random).
//
// Crash-point enumeration: `syncCount` counts FileHandle.sync/syncAsync and syncDir calls;
// `onSync(n, path)` runs BEFORE sync n takes effect (throw from it to stop a workload, or call
// crash() in it). Fault injection: inject({ op, nth, pathIncludes, errno, persistent,
// shortWrite }) fails the nth matching call from now (and every later one if persistent).
//
// Paths are POSIX; relative paths are taken from '/'.

import * as posix from 'node:path/posix';
import type { Background, BackgroundStep, FileHandle, OpenOptions, Preparation, Stat, Vfs } from './vfs.js';
import { IoError } from '../util/errors.js';
import { assert } from '../util/assert.js';
import { randBytes, randInt, rng } from '../util/random.js';

export type CrashMode = 'drop' | 'keep' | 'torn' | 'random' | 'prefix';

export interface CrashOptions {
  seed: number;
  /** Default 'random'. */
  mode?: CrashMode;
  /** Tear granularity; default 512. */
  sectorBytes?: number;
}

export type FaultOp = 'write' | 'sync' | 'open' | 'rename' | 'unlink' | 'syncDir';

export interface SimFault {
  /** 'sync' covers FileHandle.sync and syncAsync; 'syncDir' covers Vfs.syncDir. */
  op: FaultOp;
  /** Fail the nth matching call counted from inject() (1-based; default 1). */
  nth?: number;
  /** Only calls whose path contains this string match (for rename: either path). */
  pathIncludes?: string;
  errno: 'ENOSPC' | 'EIO' | 'EROFS';
  /** Fail the nth matching call and every one after it, until clearFaults(). */
  persistent?: boolean;
  /** For 'write': write the first half of the bytes, then fail. */
  shortWrite?: boolean;
}

export interface SimVfsOptions {
  /** Source of mtimeMs; default a logical clock (the operation counter). */
  clock?: () => number;
}

/** A crash image or a seed for a new SimVfs: every directory and every file's bytes. */
interface Image {
  dirs: string[];
  files: Map<string, Buffer>;
}

const SECTOR_BYTES = 512;

/** A growable byte array: capacity doubles, so appends are amortised O(1). */
class Bytes {
  buf: Buffer;
  size: number;

  constructor(init?: Uint8Array) {
    this.buf = Buffer.alloc(Math.max(64, init?.length ?? 0));
    this.size = 0;
    if (init !== undefined) this.write(0, init);
  }

  #reserve(n: number): void {
    if (n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(n, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.size);
    this.buf = next;
  }

  write(pos: number, data: Uint8Array): void {
    const end = pos + data.length;
    this.#reserve(end);
    if (pos > this.size) this.buf.fill(0, this.size, pos);
    this.buf.set(data, pos);
    this.size = Math.max(this.size, end);
  }

  truncate(length: number): void {
    this.#reserve(length);
    if (length > this.size) this.buf.fill(0, this.size, length);
    this.size = length;
  }

  view(): Buffer {
    return this.buf.subarray(0, this.size);
  }

  clone(): Bytes {
    return new Bytes(this.view());
  }
}

interface Node {
  kind: 'file' | 'dir';
  id: number;
}
type Namespace = Map<string, Node>;

type FileOp =
  | { kind: 'write'; seq: number; pos: number; data: Buffer }
  | { kind: 'truncate'; seq: number; length: number };

interface Inode {
  id: number;
  cur: Bytes;
  durable: Bytes;
  /** Unsynced operations, in issue order. */
  ops: FileOp[];
  mtimeMs: number;
}

interface DirOp {
  kind: 'create' | 'mkdir' | 'unlink' | 'rmdir' | 'rename';
  seq: number;
  path: string;
  /** Destination of a rename; equal to path otherwise. */
  to: string;
  node: Node;
  /** Parent directories still to be synced before the operation is durable. */
  needs: Set<string>;
}

interface ArmedFault {
  fault: SimFault;
  seen: number;
}

type WriteOutcome = 'keep' | 'drop' | 'torn' | 'tornPrefix' | 'garbage' | 'zeros';

const ROOT: Node = { kind: 'dir', id: 0 };

function norm(path: string): string {
  return posix.resolve('/', path);
}

function io(op: string, path: string, errno: string): IoError {
  return new IoError(op, path, errno);
}

function isUnder(path: string, dir: string): boolean {
  return dir === '/' ? path !== '/' : path.startsWith(dir + '/');
}

function hasChildren(ns: Namespace, dir: string): boolean {
  for (const key of ns.keys()) if (isUnder(key, dir)) return true;
  return false;
}

/** Moves `from` (and, for a directory, everything under it) to `to`, replacing `to`. */
function moveSubtree(ns: Namespace, from: string, to: string): void {
  const moved: Array<[string, Node]> = [];
  for (const [key, node] of ns) {
    if (key === from || isUnder(key, from)) moved.push([to + key.slice(from.length), node]);
  }
  for (const [key] of moved) ns.delete(from + key.slice(to.length));
  for (const [key, node] of moved) ns.set(key, node);
}

/**
 * Replays one directory operation onto a namespace. On a crash image an operation whose
 * precondition no longer holds (its file's creation was undone, say) is skipped.
 */
function applyDirOp(ns: Namespace, op: DirOp): void {
  const at = ns.get(op.path);
  switch (op.kind) {
    case 'create':
    case 'mkdir':
      if (ns.get(posix.dirname(op.path))?.kind !== 'dir') return;
      if (at !== undefined && (at.kind === 'dir' || op.kind === 'mkdir')) return;
      ns.set(op.path, op.node);
      return;
    case 'unlink':
      if (at?.id === op.node.id) ns.delete(op.path);
      return;
    case 'rmdir':
      if (at?.id === op.node.id && !hasChildren(ns, op.path)) ns.delete(op.path);
      return;
    case 'rename': {
      if (at?.id !== op.node.id) return;
      if (ns.get(posix.dirname(op.to))?.kind !== 'dir') return;
      const there = ns.get(op.to);
      if (there !== undefined && there.kind !== op.node.kind) return;
      if (there?.kind === 'dir' && hasChildren(ns, op.to)) return;
      moveSubtree(ns, op.path, op.to);
      return;
    }
  }
}

function applyFileOp(bytes: Bytes, op: FileOp): void {
  if (op.kind === 'write') bytes.write(op.pos, op.data);
  else bytes.truncate(op.length);
}

/** Applies one unsynced write to a crash image according to its outcome. */
function applyWriteOutcome(
  img: Bytes,
  op: { pos: number; data: Buffer },
  outcome: WriteOutcome,
  r: () => number,
  sector: number,
): void {
  const end = op.pos + op.data.length;
  if (outcome === 'keep') {
    img.write(op.pos, op.data);
  } else if (outcome === 'torn' || outcome === 'tornPrefix') {
    const first = Math.floor(op.pos / sector);
    const count = Math.ceil(end / sector) - first;
    const prefix = outcome === 'tornPrefix' ? randInt(r, count + 1) : -1;
    for (let i = 0; i < count; i++) {
      const keep = outcome === 'tornPrefix' ? i < prefix : r() < 0.5;
      if (!keep) continue;
      const from = Math.max(op.pos, (first + i) * sector);
      const to = Math.min(end, (first + i + 1) * sector);
      img.write(from, op.data.subarray(from - op.pos, to - op.pos));
    }
  } else if ((outcome === 'garbage' || outcome === 'zeros') && end > img.size) {
    // The file's size reached the disk but the data blocks did not (e.g. ext4 writeback).
    const from = Math.max(op.pos, img.size);
    img.write(from, outcome === 'garbage' ? randBytes(r, end - from) : Buffer.alloc(end - from));
  }
}

/** All state and behaviour; SimVfs is its public face and SimHandle its per-open view. */
class SimCore {
  ns: Namespace = new Map([['/', ROOT]]);
  durableNs: Namespace = new Map([['/', ROOT]]);
  dirOps: DirOp[] = [];
  inodes = new Map<number, Inode>();
  nextId = 1;
  /** Issue order of every mutation; a sync covers the operations up to a seq. */
  seq = 0;
  syncCount = 0;
  counts: Record<FaultOp, number> = {
    write: 0,
    sync: 0,
    open: 0,
    rename: 0,
    unlink: 0,
    syncDir: 0,
  };
  faults: ArmedFault[] = [];
  readonly clock: () => number;
  readonly hook: (n: number, path: string) => void;

  constructor(clock: (() => number) | undefined, hook: (n: number, path: string) => void) {
    this.clock = clock ?? (() => this.seq);
    this.hook = hook;
  }

  /** Counts a call and returns the fault it must fail with, if any. */
  fault(op: FaultOp, path: string): SimFault | undefined {
    this.counts[op]++;
    let hit: SimFault | undefined;
    for (const armed of [...this.faults]) {
      const f = armed.fault;
      if (f.op !== op) continue;
      if (f.pathIncludes !== undefined && !path.includes(f.pathIncludes)) continue;
      armed.seen++;
      const nth = f.nth ?? 1;
      const fires = armed.seen === nth || (f.persistent === true && armed.seen > nth);
      if (!fires) continue;
      if (f.persistent !== true) this.faults.splice(this.faults.indexOf(armed), 1);
      hit ??= f;
    }
    return hit;
  }

  parentDir(op: string, path: string): void {
    const parent = this.ns.get(posix.dirname(path));
    if (parent === undefined) throw io(op, path, 'ENOENT');
    if (parent.kind !== 'dir') throw io(op, path, 'ENOTDIR');
  }

  logDirOp(kind: DirOp['kind'], path: string, to: string, node: Node): void {
    const needs = new Set([posix.dirname(path), posix.dirname(to)]);
    this.dirOps.push({ kind, seq: ++this.seq, path, to, node, needs });
  }

  newInode(content?: Uint8Array): Node {
    const id = this.nextId++;
    const cur = new Bytes(content);
    this.inodes.set(id, { id, cur, durable: cur.clone(), ops: [], mtimeMs: this.clock() });
    return { kind: 'file', id };
  }

  open(path: string, options: OpenOptions): SimHandle {
    const p = norm(path);
    const f = this.fault('open', p);
    if (f !== undefined) throw io('open', p, f.errno);
    let node = this.ns.get(p);
    if (node?.kind === 'dir') throw io('open', p, 'EISDIR');
    if (node !== undefined && options.create === true && options.exclusive === true) {
      throw io('open', p, 'EEXIST');
    }
    if (node === undefined) {
      if (options.create !== true) throw io('open', p, 'ENOENT');
      this.parentDir('open', p);
      node = this.newInode();
      this.ns.set(p, node);
      this.logDirOp('create', p, p, node);
    }
    const inode = this.inodes.get(node.id);
    assert(inode !== undefined, `SimVfs: no inode ${node.id} for ${p}`);
    return new SimHandle(this, p, inode, options.readOnly === true);
  }

  write(path: string, inode: Inode, data: Uint8Array, pos: number): void {
    const f = this.fault('write', path);
    if (f !== undefined) {
      if (f.shortWrite === true) this.record(inode, data.subarray(0, data.length >> 1), pos);
      throw io('write', path, f.errno);
    }
    this.record(inode, data, pos);
  }

  record(inode: Inode, data: Uint8Array, pos: number): void {
    if (data.length === 0) return;
    const copy = Buffer.from(data);
    inode.cur.write(pos, copy);
    inode.ops.push({ kind: 'write', seq: ++this.seq, pos, data: copy });
    inode.mtimeMs = this.clock();
  }

  truncate(inode: Inode, length: number): void {
    inode.cur.truncate(length);
    inode.ops.push({ kind: 'truncate', seq: ++this.seq, length });
    inode.mtimeMs = this.clock();
  }

  /** Makes the inode's operations with seq ≤ target durable (or loses them, on a fault). */
  syncFile(path: string, inode: Inode, target: number): void {
    this.hook(++this.syncCount, path);
    const f = this.fault('sync', path);
    if (f !== undefined) {
      inode.ops = inode.ops.filter((op) => op.seq > target); // fsyncgate: covered data is lost
      throw io('fdatasync', path, f.errno);
    }
    const rest: FileOp[] = [];
    for (const op of inode.ops) {
      if (op.seq <= target) applyFileOp(inode.durable, op);
      else rest.push(op);
    }
    inode.ops = rest;
  }

  syncDir(dir: string): void {
    const p = norm(dir);
    const node = this.ns.get(p);
    if (node === undefined) throw io('open', p, 'ENOENT');
    if (node.kind !== 'dir') throw io('open', p, 'ENOTDIR');
    this.hook(++this.syncCount, p);
    const f = this.fault('syncDir', p);
    if (f !== undefined) throw io('fsync', p, f.errno);
    for (const op of this.dirOps) op.needs.delete(p);
    while (this.dirOps.length > 0 && this.dirOps[0]!.needs.size === 0) {
      applyDirOp(this.durableNs, this.dirOps.shift()!);
    }
    this.collect();
  }

  /** Forgets inodes that no namespace, pending operation or crash image can reach. */
  collect(): void {
    const live = new Set<number>();
    for (const node of this.ns.values()) live.add(node.id);
    for (const node of this.durableNs.values()) live.add(node.id);
    for (const op of this.dirOps) live.add(op.node.id);
    for (const id of this.inodes.keys()) if (!live.has(id)) this.inodes.delete(id);
  }

  mkdir(dir: string, recursive: boolean): void {
    const p = norm(dir);
    const node = this.ns.get(p);
    if (node !== undefined) {
      if (recursive && node.kind === 'dir') return;
      throw io('mkdir', p, 'EEXIST');
    }
    const parent = this.ns.get(posix.dirname(p));
    if (parent === undefined && recursive) this.mkdir(posix.dirname(p), true);
    else this.parentDir('mkdir', p);
    const created: Node = { kind: 'dir', id: this.nextId++ };
    this.ns.set(p, created);
    this.logDirOp('mkdir', p, p, created);
  }

  rename(from: string, to: string): void {
    const a = norm(from);
    const b = norm(to);
    const label = `${a} -> ${b}`;
    const f = this.fault('rename', label);
    if (f !== undefined) throw io('rename', label, f.errno);
    const node = this.ns.get(a);
    if (node === undefined) throw io('rename', label, 'ENOENT');
    if (a === '/') throw io('rename', label, 'EBUSY');
    this.parentDir('rename', b);
    if (a === b) return;
    if (node.kind === 'dir' && isUnder(b, a)) throw io('rename', label, 'EINVAL');
    const there = this.ns.get(b);
    if (there?.kind === 'dir' && node.kind === 'file') throw io('rename', label, 'EISDIR');
    if (there?.kind === 'file' && node.kind === 'dir') throw io('rename', label, 'ENOTDIR');
    if (there?.kind === 'dir' && hasChildren(this.ns, b)) throw io('rename', label, 'ENOTEMPTY');
    moveSubtree(this.ns, a, b);
    this.logDirOp('rename', a, b, node);
  }

  unlink(path: string): void {
    const p = norm(path);
    const f = this.fault('unlink', p);
    if (f !== undefined) throw io('unlink', p, f.errno);
    const node = this.ns.get(p);
    if (node === undefined) throw io('unlink', p, 'ENOENT');
    if (node.kind === 'dir') throw io('unlink', p, 'EISDIR');
    this.ns.delete(p);
    this.logDirOp('unlink', p, p, node);
  }

  rmdir(dir: string): void {
    const p = norm(dir);
    const node = this.ns.get(p);
    if (node === undefined) throw io('rmdir', p, 'ENOENT');
    if (node.kind !== 'dir') throw io('rmdir', p, 'ENOTDIR');
    if (p === '/') throw io('rmdir', p, 'EBUSY');
    if (hasChildren(this.ns, p)) throw io('rmdir', p, 'ENOTEMPTY');
    this.ns.delete(p);
    this.logDirOp('rmdir', p, p, node);
  }

  readdir(dir: string): string[] {
    const p = norm(dir);
    const node = this.ns.get(p);
    if (node === undefined) throw io('readdir', p, 'ENOENT');
    if (node.kind !== 'dir') throw io('readdir', p, 'ENOTDIR');
    const names: string[] = [];
    for (const key of this.ns.keys()) {
      if (key !== '/' && posix.dirname(key) === p) names.push(posix.basename(key));
    }
    return names.sort();
  }

  stat(path: string): Stat | undefined {
    const node = this.ns.get(norm(path));
    if (node === undefined) return undefined;
    if (node.kind === 'dir') return { size: 0, isDirectory: true, isFile: false, mtimeMs: 0 };
    const inode = this.inodes.get(node.id)!;
    return { size: inode.cur.size, isDirectory: false, isFile: true, mtimeMs: inode.mtimeMs };
  }

  /** The current state (what reads see). */
  currentImage(): Image {
    const image: Image = { dirs: [], files: new Map() };
    for (const key of [...this.ns.keys()].sort()) {
      const node = this.ns.get(key)!;
      if (node.kind === 'dir') image.dirs.push(key);
      else image.files.set(key, Buffer.from(this.inodes.get(node.id)!.cur.view()));
    }
    return image;
  }

  crashImage(options: CrashOptions): Image {
    const mode = options.mode ?? 'random';
    const sector = options.sectorBytes ?? SECTOR_BYTES;
    assert(Number.isInteger(sector) && sector > 0, `SimVfs.crash: bad sectorBytes ${sector}`);
    if (mode === 'keep') return this.currentImage();
    const r = rng(options.seed);
    const cut = mode === 'prefix' ? this.prefixCut(r) : Infinity;
    const keepPending = (seq: number): boolean =>
      mode === 'prefix' ? seq < cut : mode !== 'drop' && r() < 0.5;
    const ns: Namespace = new Map(this.durableNs);
    for (const op of this.dirOps) {
      if (op.needs.size === 0 || keepPending(op.seq)) applyDirOp(ns, op);
    }
    const image: Image = { dirs: [], files: new Map() };
    for (const key of [...ns.keys()].sort()) {
      const node = ns.get(key)!;
      if (node.kind === 'dir') {
        image.dirs.push(key);
        continue;
      }
      const inode = this.inodes.get(node.id)!;
      const img = inode.durable.clone();
      for (const op of inode.ops) {
        if (op.kind === 'truncate') {
          if (keepPending(op.seq)) img.truncate(op.length);
        } else {
          applyWriteOutcome(img, op, this.#outcome(op.seq, mode, cut, r), r, sector);
        }
      }
      image.files.set(key, Buffer.from(img.view()));
    }
    return image;
  }

  #outcome(seq: number, mode: CrashMode, cut: number, r: () => number): WriteOutcome {
    switch (mode) {
      case 'keep':
        return 'keep';
      case 'drop':
        return 'drop';
      case 'torn':
        return 'torn';
      case 'prefix':
        return seq < cut ? 'keep' : seq === cut ? 'tornPrefix' : 'drop';
      case 'random': {
        const x = r();
        if (x < 0.3) return 'keep';
        if (x < 0.6) return 'drop';
        if (x < 0.85) return 'torn';
        return x < 0.95 ? 'garbage' : 'zeros';
      }
    }
  }

  /** The seq of the first pending operation a 'prefix' crash loses (Infinity: none). */
  prefixCut(r: () => number): number {
    const seqs: number[] = [];
    for (const op of this.dirOps) if (op.needs.size > 0) seqs.push(op.seq);
    for (const inode of this.inodes.values()) for (const op of inode.ops) seqs.push(op.seq);
    seqs.sort((x, y) => x - y);
    const i = randInt(r, seqs.length + 1);
    return i < seqs.length ? seqs[i]! : Infinity;
  }

  /** Fills an empty core with an image, all of it durable. */
  load(image: Image): void {
    for (const dir of [...image.dirs].sort()) this.mkdir(dir, true);
    for (const [path, data] of image.files) {
      const p = norm(path);
      this.mkdir(posix.dirname(p), true);
      const node = this.newInode(data);
      this.ns.set(p, node);
    }
    this.durableNs = new Map(this.ns);
    this.dirOps = [];
  }

  describePending(): string[] {
    const names = new Map<number, string>();
    for (const [key, node] of this.ns) names.set(node.id, key);
    const lines: Array<[number, string]> = [];
    for (const op of this.dirOps) {
      if (op.needs.size === 0) continue;
      const what = op.kind === 'rename' ? `${op.path} -> ${op.to}` : op.path;
      lines.push([op.seq, `${op.kind} ${what}`]);
    }
    for (const inode of this.inodes.values()) {
      const name = names.get(inode.id) ?? `(unlinked inode ${inode.id})`;
      for (const op of inode.ops) {
        const what = op.kind === 'write' ? `@${op.pos}+${op.data.length}` : `to ${op.length}`;
        lines.push([op.seq, `${op.kind} ${name} ${what}`]);
      }
    }
    return lines.sort((x, y) => x[0] - y[0]).map(([seq, text]) => `#${seq} ${text}`);
  }
}

class SimHandle implements FileHandle {
  readonly path: string;
  readonly #core: SimCore;
  readonly #inode: Inode;
  readonly #readOnly: boolean;
  #closed = false;

  constructor(core: SimCore, path: string, inode: Inode, readOnly: boolean) {
    this.#core = core;
    this.path = path;
    this.#inode = inode;
    this.#readOnly = readOnly;
  }

  #check(op: string, writing: boolean): void {
    if (this.#closed) throw io(op, this.path, 'EBADF');
    if (writing && this.#readOnly) throw io(op, this.path, 'EBADF');
  }

  read(buf: Uint8Array, position: number): number {
    this.#check('read', false);
    assert(Number.isInteger(position) && position >= 0, `SimVfs.read: bad position ${position}`);
    const cur = this.#inode.cur;
    if (position >= cur.size) return 0;
    const n = Math.min(buf.length, cur.size - position);
    buf.set(cur.buf.subarray(position, position + n));
    return n;
  }

  write(buf: Uint8Array, position: number): void {
    this.#check('write', true);
    assert(Number.isInteger(position) && position >= 0, `SimVfs.write: bad position ${position}`);
    this.#core.write(this.path, this.#inode, buf, position);
  }

  size(): number {
    this.#check('fstat', false);
    return this.#inode.cur.size;
  }

  truncate(length: number): void {
    this.#check('ftruncate', true);
    assert(Number.isInteger(length) && length >= 0, `SimVfs.truncate: bad length ${length}`);
    this.#core.truncate(this.#inode, length);
  }

  sync(): void {
    this.#check('fdatasync', false);
    this.#core.syncFile(this.path, this.#inode, this.#core.seq);
  }

  syncAsync(): Promise<void> {
    try {
      this.#check('fdatasync', false);
    } catch (err) {
      return Promise.reject(err);
    }
    const target = this.#core.seq; // covers the operations issued before the call
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          this.#core.syncFile(this.path, this.#inode, target);
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  close(): void {
    this.#check('close', false);
    this.#closed = true;
  }
}

export class SimVfs implements Vfs {
  /** Called before sync number n (1-based, counting file and directory syncs) takes effect. */
  onSync?: (n: number, path: string) => void;
  readonly #options: SimVfsOptions;
  readonly #core: SimCore;

  constructor(options: SimVfsOptions = {}) {
    this.#options = options;
    this.#core = new SimCore(options.clock, (n, path) => this.onSync?.(n, path));
  }

  /** A SimVfs whose files (and their parent directories) exist and are all durable. */
  static fromFiles(files: Map<string, Uint8Array>, options: SimVfsOptions = {}): SimVfs {
    const vfs = new SimVfs(options);
    const image: Image = { dirs: [], files: new Map() };
    for (const [path, data] of files) image.files.set(path, Buffer.from(data));
    vfs.#core.load(image);
    return vfs;
  }

  /** File and directory syncs so far (including failed ones). */
  get syncCount(): number {
    return this.#core.syncCount;
  }

  /** Calls of a kind so far (a fault-injection loop runs N = 1 … opCount(op)). */
  opCount(op: FaultOp): number {
    return this.#core.counts[op];
  }

  inject(fault: SimFault): void {
    assert(fault.nth === undefined || (Number.isInteger(fault.nth) && fault.nth >= 1), 'nth ≥ 1');
    this.#core.faults.push({ fault: { ...fault }, seen: 0 });
  }

  clearFaults(): void {
    this.#core.faults = [];
  }

  /** What a power loss now would leave, as a new SimVfs (see the header for the modes). */
  crash(options: CrashOptions): SimVfs {
    const out = new SimVfs(this.#options);
    out.#core.load(this.#core.crashImage(options));
    return out;
  }

  /** Current bytes of every file (what reads see), by absolute path, sorted. */
  snapshotFiles(): Map<string, Buffer> {
    return this.#core.currentImage().files;
  }

  /** Durable bytes of every file whose directory entry is durable (= crash mode 'drop'). */
  durableFiles(): Map<string, Buffer> {
    return this.#core.crashImage({ seed: 0, mode: 'drop' }).files;
  }

  /** The unsynced operations a crash may lose, in issue order (for messages and debugging). */
  pendingOps(): string[] {
    return this.#core.describePending();
  }

  open(path: string, options: OpenOptions = {}): FileHandle {
    return this.#core.open(path, options);
  }

  stat(path: string): Stat | undefined {
    return this.#core.stat(path);
  }

  /**
   * As NodeVfs's thread: the file is created (or truncated) now; on a later tick it is filled
   * with zeros, and on another one fdatasynced (a crash point, like every sync). Faults apply.
   */
  prepare(path: string, size: number): Preparation {
    let state: boolean | Error = false;
    const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
    const done = (async () => {
      const h = this.open(path, { create: true });
      try {
        h.truncate(0);
        await tick();
        const zero = Buffer.alloc(Math.min(size, 1024 * 1024));
        for (let at = 0; at < size; at += zero.length) h.write(zero.subarray(0, Math.min(zero.length, size - at)), at);
        await tick();
        h.sync();
      } finally {
        h.close();
      }
    })();
    done.then(
      () => (state = true),
      (err: Error) => (state = err),
    );
    return { state: () => state, done };
  }

  /** Background work not yet ended, oldest first (one queue, as NodeVfs's one thread). */
  #queue: Array<{ steps: BackgroundStep[]; next: number; state: boolean | Error; ended: () => void }> = [];

  /** Runs the next step of the oldest work in the queue. */
  #step(): void {
    const job = this.#queue[0]!;
    const s = job.steps[job.next++]!;
    try {
      if (s.op === 'sync') s.handle.sync();
      else if (s.op === 'rename') this.rename(s.from, s.to);
      else this.syncDir(s.dir);
      if (job.next === job.steps.length) job.state = true;
    } catch (err) {
      job.state = err as Error;
    }
    if (job.state !== false) {
      this.#queue.shift();
      job.ended();
    }
  }

  /**
   * As NodeVfs's thread: one step per later tick, the works in the order given, through the
   * ordinary calls (so every sync is a crash point and faults apply); wait() runs now every step
   * left of this work and of the works before it. The first step that fails ends the work.
   */
  background(steps: BackgroundStep[]): Background {
    let ended!: () => void;
    const settled = new Promise<void>((resolve) => (ended = resolve));
    const job = { steps, next: 0, state: (steps.length === 0) as boolean | Error, ended };
    if (steps.length === 0) ended();
    else this.#queue.push(job);
    const pump = (): void => {
      setImmediate(() => {
        if (job.state !== false) return;
        this.#step();
        pump();
      });
    };
    pump();
    const done = settled.then(() => {
      if (job.state instanceof Error) throw job.state;
    });
    done.catch(() => {}); // reported through state(); `done` rejects for those who await it
    return {
      state: () => job.state,
      done,
      wait: () => {
        while (job.state === false) this.#step();
      },
    };
  }

  readdir(dir: string): string[] {
    return this.#core.readdir(dir);
  }

  mkdir(dir: string, options: { recursive?: boolean; mode?: number } = {}): void {
    this.#core.mkdir(dir, options.recursive === true);
  }

  rename(from: string, to: string): void {
    this.#core.rename(from, to);
  }

  unlink(path: string): void {
    this.#core.unlink(path);
  }

  rmdir(dir: string): void {
    this.#core.rmdir(dir);
  }

  syncDir(dir: string): void {
    this.#core.syncDir(dir);
  }

  readFile(path: string): Buffer {
    const handle = this.open(path, { readOnly: true });
    try {
      const out = Buffer.alloc(handle.size());
      handle.read(out, 0);
      return out;
    } finally {
      handle.close();
    }
  }

  writeFile(path: string, data: Uint8Array, _options: { mode?: number } = {}): void {
    const handle = this.open(path, { create: true });
    try {
      if (handle.size() > 0) handle.truncate(0);
      handle.write(data, 0);
    } finally {
      handle.close();
    }
  }
}
