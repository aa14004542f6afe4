// Direct, read-only access to a cairn data file for db_verify, db_stat -d and db_dump -d
// (issue 5). Nothing here goes through the environment: the file is read with plain reads,
// every page is checked as it is read (checksum, page number, file id: I6), and nothing is
// ever written. Callers make sure the file is quiescent first (tools/home.ts requireQuiescent).
// Files are read through a Vfs (the real file system unless one is given: tests use SimVfs).
//
// What db_verify checks (verifyDataFile), in order:
//   1. the meta page: magic, version, page size, checksum, identity, type, environment id;
//   2. the file size against the meta page's page count (truncated files, pages past the end);
//   3. every page: checksum, page number, file id, a known type, no second meta page;
//   4. the catalog tree and every database tree (BTree.verify: page types per level, cell
//      bounds, key order within and across pages, separators, sibling links, overflow chains,
//      duplicate encoding), the descriptors, and record-number keys of recno/queue databases;
//   5. the free list: in range, free pages only, no cycle, nothing also in a tree;
//   6. leaks: every page is the meta page, in exactly one tree, or on the free list.

import { BTree, type DupMode } from '../btree/btree.js';
import type { PageReader } from '../page/store.js';
import { badDescriptorRoot, decodeDescriptor, type Descriptor } from '../env/database.js';
import { MAX_PAGE_SIZE, MIN_PAGE_SIZE, PAGE_HEADER_SIZE, PageOffset, PageType } from '../page/format.js';
import { DATA_MAGIC, MetaOffset, readMeta, type MetaInfo } from '../page/meta.js';
import { checkPage } from '../page/pager.js';
import * as path from 'node:path';
import { CairnError, CorruptionError, IoError } from '../util/errors.js';
import { formatLsn, readLsn } from '../util/lsn.js';
import { nodeVfs } from '../io/node.js';
import type { FileHandle, Vfs } from '../io/vfs.js';
import type { ProgressCallback } from '../util/progress.js';
import { headerFor, isRecnoType, RECNO_KEY_SIZE } from './dbmeta.js';

const TYPE_NAMES = ['free', 'meta', 'branch', 'leaf', 'overflow'];
const SLOTS = 36;
const H_UPPER = 32;
const H_FRAG = 34;

export function pageTypeName(t: number): string {
  return TYPE_NAMES[t] ?? `unknown type ${t}`;
}

function validPageSize(n: number): boolean {
  return n >= MIN_PAGE_SIZE && n <= MAX_PAGE_SIZE && (n & (n - 1)) === 0;
}

export interface CatalogEntry {
  /** '' for the unnamed database. */
  name: string;
  desc: Descriptor;
}

/** What RawDataFile.open throws when the file cannot be opened or is a directory. */
function openError(p: string, e: unknown): Error {
  if (!(e instanceof IoError)) return e as Error;
  if (e.errno === 'ENOENT') return new CairnError('NOT_FOUND', `${p}: No such file or directory`);
  if (e.errno === 'EISDIR') return new CairnError('INVALID_ARGUMENT', `${p} is a directory, not a data file`);
  return new CairnError('IO', `${p}: ${e.cause instanceof Error ? e.cause.message : e.message}`);
}

/** An open data file, read page by page. Implements the B-tree's PageReader with checks. */
export class RawDataFile implements PageReader {
  readonly path: string;
  readonly pageSize: number;
  readonly uid: number;
  readonly meta: MetaInfo;
  /** Bytes in the file. */
  readonly size: number;
  /** Problem with page 0 itself (checksum, identity, type), or undefined. */
  readonly metaProblem: string | undefined;
  private readonly handle: FileHandle;
  private readonly cache = new Map<number, Buffer>();
  /** Called with every page number read through page() (db_verify records tree membership). */
  onRead: ((pgno: number) => void) | undefined;

  private constructor(p: string, handle: FileHandle, size: number, meta: MetaInfo, metaProblem: string | undefined) {
    this.path = p;
    this.handle = handle;
    this.size = size;
    this.meta = meta;
    this.pageSize = meta.pageSize;
    this.uid = meta.fileUid;
    this.metaProblem = metaProblem;
  }

  /**
   * Opens a data file. Throws CairnError NOT_FOUND when it does not exist and CORRUPT when it is
   * not a cairn data file at all (no magic, bad version or page size).
   */
  static open(p: string, vfs: Vfs = nodeVfs): RawDataFile {
    let handle: FileHandle;
    try {
      handle = vfs.open(p, { readOnly: true });
    } catch (e) {
      throw openError(p, e);
    }
    try {
      const size = handle.size();
      if (size < MIN_PAGE_SIZE) {
        throw new CorruptionError(p, 0, `not a cairn data file (${size} bytes, shorter than the smallest page)`);
      }
      const head = Buffer.alloc(MIN_PAGE_SIZE);
      handle.read(head, 0);
      const meta = readMeta(head, p);
      if (!validPageSize(meta.pageSize)) {
        throw new CorruptionError(p, MetaOffset.pageSize, `meta page gives an impossible page size ${meta.pageSize}`);
      }
      const page0 = Buffer.alloc(meta.pageSize);
      handle.read(page0, 0);
      let problem = checkPage(page0, 0, meta.fileUid);
      if (problem === undefined && page0[PageOffset.type] !== PageType.Meta) problem = `page type is ${pageTypeName(page0[PageOffset.type]!)}, not meta`;
      return new RawDataFile(p, handle, size, readMeta(page0, p), problem);
    } catch (e) {
      handle.close();
      // A directory opens on Linux and fails at its first read.
      if (e instanceof IoError && e.errno === 'EISDIR') throw openError(p, e);
      throw e;
    }
  }

  close(): void {
    this.handle.close();
  }

  /** Pages the file holds on disk (whole pages). */
  get pagesOnDisk(): number {
    return Math.floor(this.size / this.pageSize);
  }

  /** The bytes of a page as they are on disk, unchecked (zeros past the end of the file). */
  rawPage(pgno: number): Buffer {
    const buf = Buffer.alloc(this.pageSize);
    if (pgno < this.pagesOnDisk) this.handle.read(buf, pgno * this.pageSize);
    return buf;
  }

  /** Why a page is not sound (checksum, identity, range), or undefined. */
  checkPage(pgno: number, buf: Buffer = this.rawPage(pgno)): string | undefined {
    if (pgno >= this.meta.pageCount) return `page number beyond the page count ${this.meta.pageCount}`;
    if (pgno >= this.pagesOnDisk) return `page is missing from the file (it holds ${this.pagesOnDisk} pages)`;
    return checkPage(buf, pgno, this.uid);
  }

  /** PageReader: the checked page; throws CorruptionError naming the page. */
  page(pgno: number): Buffer {
    this.onRead?.(pgno);
    const hit = this.cache.get(pgno);
    if (hit !== undefined) return hit;
    const buf = this.rawPage(pgno);
    const why = pgno === 0 ? this.metaProblem : this.checkPage(pgno, buf);
    if (why !== undefined) throw new CorruptionError(`page ${pgno}`, pgno * this.pageSize, why);
    if (this.cache.size >= 2048) this.cache.delete(this.cache.keys().next().value as number);
    this.cache.set(pgno, buf);
    return buf;
  }

  /** The catalog: every database in the file with its descriptor, in name order. */
  catalog(): CatalogEntry[] {
    const out: CatalogEntry[] = [];
    const cat = new BTree(this.meta.catalogRoot, 'none');
    const c = cat.cursor(this);
    for (let e = c.first(); e !== undefined; e = c.next()) {
      const name = e[0].toString('utf8');
      const desc = decodeDescriptor(e[1], `${this.path} (database "${name}")`);
      const bad = badDescriptorRoot(desc, this.meta.catalogRoot) ?? (desc.root >= this.meta.pageCount ? `root page ${desc.root} is beyond the page count ${this.meta.pageCount}` : undefined);
      if (bad !== undefined) throw new CorruptionError(this.path, this.meta.catalogRoot * this.pageSize, `the catalog entry of database "${name}": ${bad}; run db_verify`);
      out.push({ name, desc });
    }
    return out;
  }
}

// ---- db_verify -----------------------------------------------------------------------------------

export interface Problem {
  /** The page the problem is on; undefined for file-level problems. */
  pgno?: number;
  what: string;
}

export interface VerifyResult {
  problems: Problem[];
  /** Set when the problem list was cut short. */
  truncated: boolean;
  pages: number;
  databases: number;
  freePages: number;
}

const MAX_PROBLEMS = 1000;

function label(name: string): string {
  return name === '' ? 'the unnamed database' : `database "${name}"`;
}

/** Splits a B-tree verify message "page N: what" into its parts. */
function splitPageMessage(s: string): Problem {
  const m = /^page (\d+): ([^]*)$/.exec(s);
  if (m) return { pgno: Number(m[1]), what: m[2]! };
  const c = /^page (\d+) at offset \d+: ([^]*)$/.exec(s);
  if (c) return { pgno: Number(c[1]), what: c[2]! };
  return { what: s };
}

/** What db_verify checks with: the environment the file must belong to, and where progress goes. */
export interface VerifyOptions {
  envId?: Buffer;
  /** Progress: 'pages' (every page checked, step 3), then 'trees' (pages reached through the trees, step 4; the total is an upper bound: free and leaked pages are in no tree). */
  progress?: ProgressCallback | undefined;
  /** The file system the file is on (default: the real one). */
  vfs?: Vfs;
}

/** Checks a whole data file; never throws for damage (only for a missing or unreadable file). */
export function verifyDataFile(p: string, options: VerifyOptions = {}): VerifyResult {
  const problems: Problem[] = [];
  let truncated = false;
  const add = (pr: Problem): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(pr);
    else truncated = true;
  };
  let file: RawDataFile;
  try {
    file = RawDataFile.open(p, options.vfs);
  } catch (e) {
    if (e instanceof CorruptionError) {
      add({ pgno: 0, what: e.message.replace(`${p} at offset ${e.offset}: `, '') });
      return { problems, truncated, pages: 0, databases: 0, freePages: 0 };
    }
    throw e;
  }
  try {
    return verifyOpen(file, options, add, () => truncated, problems);
  } finally {
    file.close();
  }
}

/** Steps 1–6 (the file header) on an open file. */
function verifyOpen(file: RawDataFile, options: VerifyOptions, add: (p: Problem) => void, isTruncated: () => boolean, problems: Problem[]): VerifyResult {
  // Loops and arrays go by the pages the file holds, never by a count beyond them (issue 21, F11).
  const count = Math.min(file.meta.pageCount, file.pagesOnDisk);
  checkMeta(file, options, count, add);
  checkSize(file, add);
  const { types, bad } = checkPages(file, count, add, options.progress);
  const walk = trackOwners(file, count, add, options.progress);
  let databases: number;
  try {
    databases = checkDatabases(file, walk, count, add, readCatalog(file, walk, count, add));
  } finally {
    file.onRead = undefined;
  }
  options.progress?.({ phase: 'trees', done: walk.owner.size, total: Math.max(count - 1, walk.owner.size), unit: 'pages' });
  const free = checkFreeList(file, count, bad, walk.owner, add);
  checkLeaks(count, types, bad, walk.owner, free, add);
  return { problems, truncated: isTruncated(), pages: count, databases, freePages: free.size };
}

/** 1. The meta page. */
function checkMeta(file: RawDataFile, options: VerifyOptions, count: number, add: (p: Problem) => void): void {
  const { meta } = file;
  if (file.metaProblem !== undefined) add({ pgno: 0, what: `meta page: ${file.metaProblem}` });
  if (options.envId !== undefined && !meta.envId.equals(options.envId)) {
    add({ pgno: 0, what: `the file belongs to another environment (id ${meta.envId.toString('hex')}, this one is ${options.envId.toString('hex')})` });
  }
  if (meta.pageCount < 2) add({ pgno: 0, what: `page count ${meta.pageCount} is too small (a data file has a meta page and a catalog root)` });
  if (meta.catalogRoot === 0 || meta.catalogRoot >= count) add({ pgno: 0, what: `catalog root ${meta.catalogRoot} is not a page of the file (page count ${count})` });
  if (meta.freeHead >= count) add({ pgno: 0, what: `free list head ${meta.freeHead} is not a page of the file (page count ${count})` });
}

/** 2. Size. */
function checkSize(file: RawDataFile, add: (p: Problem) => void): void {
  const { meta, pageSize } = file;
  const onDisk = file.pagesOnDisk;
  if (file.size % pageSize !== 0) add({ what: `file size ${file.size} is not a multiple of the page size ${pageSize} (a torn extension?)` });
  if (onDisk < meta.pageCount) add({ pgno: 0, what: `page count ${meta.pageCount} exceeds the file (${onDisk} pages): truncated, or a damaged meta page` });
  if (onDisk > meta.pageCount) add({ what: `the file holds ${onDisk} pages but the meta page counts ${meta.pageCount}: pages ${meta.pageCount}..${onDisk - 1} are outside the file's page count` });
}

/** Pages between two progress reports. */
const REPORT_PAGES = 64;

/** 3. Every page: checksum, identity, a known type. Returns each page's type and which are bad. */
function checkPages(file: RawDataFile, count: number, add: (p: Problem) => void, progress: ProgressCallback | undefined): { types: Uint8Array; bad: Uint8Array } {
  const types = new Uint8Array(Math.max(count, 1));
  const bad = new Uint8Array(Math.max(count, 1));
  types[0] = PageType.Meta;
  for (let pgno = 1; pgno < count; pgno++) {
    if (pgno % REPORT_PAGES === 0) progress?.({ phase: 'pages', done: pgno, total: count, unit: 'pages' });
    const buf = file.rawPage(pgno);
    const why = checkPage(buf, pgno, file.uid);
    if (why !== undefined) {
      bad[pgno] = 1;
      add({ pgno, what: why });
      continue;
    }
    const t = buf[PageOffset.type]!;
    types[pgno] = t;
    if (t === PageType.Meta) add({ pgno, what: 'a second meta page' });
    else if (t > PageType.Overflow) add({ pgno, what: `unknown page type ${t}` });
  }
  progress?.({ phase: 'pages', done: count, total: count, unit: 'pages' });
  return { types, bad };
}

/** Step 4's state: which tree reached each page first, and the tree being walked. */
interface TreeWalk {
  owner: Map<number, string>;
  current: string;
}

/** 4. Records which tree reaches each page (file.onRead); a page reached from two trees is a problem. */
function trackOwners(file: RawDataFile, count: number, add: (p: Problem) => void, progress: ProgressCallback | undefined): TreeWalk {
  const walk: TreeWalk = { owner: new Map(), current: '' };
  const twice = new Set<number>();
  file.onRead = (pgno) => {
    if (pgno === 0 || pgno >= count) return;
    const was = walk.owner.get(pgno);
    if (was === undefined) {
      walk.owner.set(pgno, walk.current);
      if (walk.owner.size % REPORT_PAGES === 0) progress?.({ phase: 'trees', done: walk.owner.size, total: count - 1, unit: 'pages' });
    } else if (was !== walk.current && !twice.has(pgno)) {
      twice.add(pgno);
      add({ pgno, what: `in two trees: ${was} and ${walk.current}` });
    }
  };
  return walk;
}

/** 4. One tree's structure (BTree.verify); true when sound. */
function checkTree(file: RawDataFile, walk: TreeWalk, count: number, add: (p: Problem) => void, name: string, root: number, dup: DupMode): boolean {
  walk.current = name;
  if (root === 0 || root >= count) {
    add({ pgno: 0, what: `${name}: root page ${root} is not a page of the file` });
    return false;
  }
  if (name !== 'catalog' && root === file.meta.catalogRoot) {
    add({ pgno: root, what: `${name}: its root page ${root} is the catalog's root` });
    return false;
  }
  const found = new BTree(root, dup).verify(file);
  for (const s of found) {
    const pr = splitPageMessage(s.replace(/unreadable: page \d+ at offset \d+: /, ''));
    add({ ...pr, what: `${pr.what} (${name})` });
  }
  return found.length === 0;
}

/** 4. The catalog tree, and its entries that decode as database descriptors. */
function readCatalog(file: RawDataFile, walk: TreeWalk, count: number, add: (p: Problem) => void): CatalogEntry[] {
  const { meta } = file;
  if (meta.catalogRoot === 0 || meta.catalogRoot >= count) return [];
  checkTree(file, walk, count, add, 'catalog', meta.catalogRoot, 'none');
  walk.current = 'catalog';
  const entries: CatalogEntry[] = [];
  try {
    const cat = new BTree(meta.catalogRoot, 'none');
    const c = cat.cursor(file);
    for (let e = c.first(); e !== undefined; e = c.next()) {
      const name = e[0].toString('utf8');
      try {
        entries.push({ name, desc: decodeDescriptor(e[1], label(name)) });
      } catch {
        add({ pgno: meta.catalogRoot, what: `catalog entry for ${label(name)} is not a valid database descriptor` });
      }
    }
  } catch (e) {
    add({ what: `the catalog cannot be read: ${(e as Error).message}` });
    return [];
  }
  return entries;
}

/** 4. Every database tree, its descriptor, and record-number keys of recno/queue databases. Returns how many databases. */
function checkDatabases(file: RawDataFile, walk: TreeWalk, count: number, add: (p: Problem) => void, entries: CatalogEntry[]): number {
  let databases = 0;
  for (const { name, desc } of entries) {
    databases++;
    const lbl = label(name);
    const sound = checkTree(file, walk, count, add, lbl, desc.root, desc.dup);
    if (desc.type !== undefined && !['btree', 'hash', 'recno', 'queue'].includes(desc.type)) {
      add({ what: `${lbl}: unknown Berkeley DB type "${String(desc.type)}" in its descriptor` });
      continue;
    }
    try {
      headerFor(desc, file.pageSize, { format: 'bytevalue', keys: false }, lbl);
    } catch (e) {
      add({ what: (e as Error).message });
    }
    if (sound && desc.type !== undefined && isRecnoType(desc.type)) {
      walk.current = lbl;
      const c = new BTree(desc.root, desc.dup).cursor(file);
      let n = 0;
      for (let e = c.first(); e !== undefined; e = c.next()) {
        n++;
        if (e[0].length !== RECNO_KEY_SIZE || e[0].readUInt32BE(0) === 0) {
          add({ what: `${lbl}: entry ${n} has key ${e[0].toString('hex') || '(empty)'}, not a 4-byte record number` });
          break;
        }
      }
    }
  }
  return databases;
}

/** 5. The free list: in range, free pages only, no cycle, nothing also in a tree. Returns the pages on it. */
function checkFreeList(file: RawDataFile, count: number, bad: Uint8Array, owner: Map<number, string>, add: (p: Problem) => void): Set<number> {
  const free = new Set<number>();
  for (let pgno = file.meta.freeHead, prev = 0; pgno !== 0; ) {
    if (pgno >= count) {
      add({ pgno: prev, what: `free list: next page ${pgno} is beyond the page count ${count}` });
      break;
    }
    if (free.has(pgno)) {
      add({ pgno, what: 'free list: cycle (page reached twice)' });
      break;
    }
    free.add(pgno);
    if (bad[pgno]) break; // already reported; its next pointer cannot be trusted
    const buf = file.rawPage(pgno);
    const t = buf[PageOffset.type]!;
    if (t !== PageType.Free) add({ pgno, what: `on the free list but it is a ${pageTypeName(t)} page` });
    const o = owner.get(pgno);
    if (o !== undefined) add({ pgno, what: `on the free list and in the ${o} tree` });
    prev = pgno;
    pgno = buf.readUInt32LE(PageOffset.next);
  }
  return free;
}

/** 6. Leaks: every page is the meta page, in exactly one tree, or on the free list. */
function checkLeaks(count: number, types: Uint8Array, bad: Uint8Array, owner: Map<number, string>, free: Set<number>, add: (p: Problem) => void): void {
  for (let pgno = 1; pgno < count; pgno++) {
    if (owner.has(pgno) || free.has(pgno) || bad[pgno]) continue;
    add({ pgno, what: `${pageTypeName(types[pgno]!)} page neither in a tree nor on the free list (leaked)` });
  }
}

// ---- db_stat -d ---------------------------------------------------------------------------------

export interface TreePagesStat {
  pages: number;
  bytesFree: number;
  /** Percentage of the pages' bytes in use (BDB's "ff"). */
  fill: number;
}

export interface DatabaseStat {
  name: string;
  type: 'btree' | 'hash' | 'recno' | 'queue';
  duplicates: DupMode;
  dumpHeader: Array<[string, string]>;
  root: number;
  levels: number;
  /** Distinct keys (records for recno/queue); 0 with fast. */
  keys: number;
  /** Key/data pairs (entries); 0 with fast. */
  items: number;
  internal: TreePagesStat;
  leaf: TreePagesStat;
  overflow: TreePagesStat;
  /** Leaf pages without entries (the root leaf of an empty database). */
  emptyPages: number;
}

export interface FileStat {
  path: string;
  pageSize: number;
  version: number;
  pages: number;
  freePages: number;
  /** Databases in the file (all of them, also with a name filter). */
  totalDatabases: number;
  databases: DatabaseStat[];
}

function pagesStat(pages: number, free: number, pageSize: number): TreePagesStat {
  const total = pages * pageSize;
  return { pages, bytesFree: free, fill: total === 0 ? 0 : Math.round(((total - free) / total) * 100) };
}

function u16(b: Buffer, o: number): number {
  return b.readUInt16LE(o);
}

/** Statistics of one database tree (walks every page; keys and items need a cursor walk unless fast). */
function treeStat(file: RawDataFile, entry: CatalogEntry, fast: boolean): DatabaseStat {
  const { desc } = entry;
  const tree = new BTree(desc.root, desc.dup);
  const ps = file.pageSize;
  // The counts come from a walk of the tree's pages: a damaged tree (a child in another tree, or
  // twice) is reported with its page, never counted as if sound (issue 21, F13).
  const bad = tree.verify(file)[0];
  if (bad !== undefined) {
    const m = /^page (\d+): /.exec(bad);
    const where = entry.name === '' ? path.basename(file.path) : `${path.basename(file.path)} (database "${entry.name}")`;
    throw new CorruptionError(file.path, m === null ? 0 : Number(m[1]) * ps, `${m === null ? bad : bad.slice(m[0].length)} (${where}); run db_verify`);
  }
  const n = { internal: 0, internalFree: 0, leaf: 0, leafFree: 0, ovf: 0, ovfFree: 0, empty: 0, levels: 0 };
  tree.walkPages(file, (pgno, type) => {
    const p = file.page(pgno);
    if (type === PageType.Overflow) {
      n.ovf++;
      n.ovfFree += ps - PAGE_HEADER_SIZE - p.readUInt32LE(PageOffset.prev);
      return;
    }
    const cnt = u16(p, PageOffset.count);
    const up = u16(p, H_UPPER) === 0 ? ps : u16(p, H_UPPER);
    const free = up - SLOTS - 2 * cnt + u16(p, H_FRAG);
    if (type === PageType.Leaf) {
      n.leaf++;
      n.leafFree += free;
      if (cnt === 0) n.empty++;
    } else {
      n.internal++;
      n.internalFree += free;
    }
  });
  n.levels = tree.stat(file).levels;
  let keys = 0;
  let items = 0;
  if (!fast) {
    const c = tree.cursor(file);
    let prev: Buffer | undefined;
    for (let e = c.first(); e !== undefined; e = c.next()) {
      items++;
      if (prev === undefined || !prev.equals(e[0])) keys++;
      prev = e[0];
    }
  }
  return {
    name: entry.name,
    type: desc.type ?? 'btree',
    duplicates: desc.dup,
    dumpHeader: desc.dumpHeader ?? [],
    root: desc.root,
    levels: n.levels,
    keys,
    items,
    internal: pagesStat(n.internal, n.internalFree, ps),
    leaf: pagesStat(n.leaf, n.leafFree, ps),
    overflow: pagesStat(n.ovf, n.ovfFree, ps),
    emptyPages: n.empty,
  };
}

/** Statistics of a data file and its databases (all, or the one named). Throws on damage. */
export function statDataFile(p: string, options: { name?: string; fast?: boolean } = {}): FileStat {
  const file = RawDataFile.open(p);
  try {
    if (file.metaProblem !== undefined) throw new CorruptionError(p, 0, `meta page: ${file.metaProblem}; run db_verify`);
    if (file.meta.pageCount > file.pagesOnDisk) throw new CorruptionError(p, MetaOffset.pageCount, `page count ${file.meta.pageCount} exceeds the file (${file.pagesOnDisk} pages); run db_verify`);
    let entries = file.catalog();
    const totalDatabases = entries.length;
    if (options.name !== undefined) {
      entries = entries.filter((e) => e.name === options.name);
      if (entries.length === 0) throw new CairnError('NOT_FOUND', `${p}: no database named "${options.name}" (db_dump -l lists them)`);
    }
    let freePages = 0;
    const seen = new Set<number>();
    for (let pgno = file.meta.freeHead; pgno !== 0 && pgno < file.meta.pageCount && !seen.has(pgno); ) {
      seen.add(pgno);
      freePages++;
      pgno = file.rawPage(pgno).readUInt32LE(PageOffset.next);
    }
    return {
      path: p,
      pageSize: file.pageSize,
      version: 1,
      pages: file.meta.pageCount,
      freePages,
      totalDatabases,
      databases: entries.map((e) => treeStat(file, e, options.fast === true)),
    };
  } finally {
    file.close();
  }
}

// ---- db_dump -d -----------------------------------------------------------------------------------

/**
 * One line per page for db_dump -d (format not stable, as in Berkeley DB): page number, type,
 * LSN, entry count, links, and whether the page passes its checks. `withFree` false (-d r)
 * leaves free pages out.
 */
export function* pageLines(p: string, withFree: boolean, progress?: ProgressCallback): Generator<string> {
  const file = RawDataFile.open(p);
  try {
    const m = file.meta;
    yield `data file ${p}: page size ${file.pageSize}, ${m.pageCount} pages, catalog root ${m.catalogRoot}, free list head ${m.freeHead}, file id ${file.uid}, environment ${m.envId.toString('hex')}\n`;
    // The pages the file holds: a page count beyond them is reported once, never looped over (issue 21, F11).
    const n = file.pagesOnDisk;
    if (m.pageCount > n) yield `page count ${m.pageCount} exceeds the file (${n} pages): BAD\n`;
    for (let pgno = 0; pgno < n; pgno++) {
      if (pgno % REPORT_PAGES === 0) progress?.({ phase: 'pages', done: pgno, total: n, unit: 'pages' });
      const buf = file.rawPage(pgno);
      const t = buf[PageOffset.type]!;
      if (!withFree && t === PageType.Free && pgno !== 0) continue;
      const why = pgno === 0 ? file.metaProblem : file.checkPage(pgno, buf);
      const lsn = formatLsn(readLsn(buf, PageOffset.lsnFile));
      const cnt = buf.readUInt16LE(PageOffset.count);
      const next = buf.readUInt32LE(PageOffset.next);
      const prev = buf.readUInt32LE(PageOffset.prev);
      let detail: string;
      switch (t) {
        case PageType.Meta:
          detail = buf.subarray(MetaOffset.magic, MetaOffset.magic + 8).equals(DATA_MAGIC) ? 'meta' : 'meta (bad magic)';
          break;
        case PageType.Leaf:
          detail = `leaf: ${cnt} entries, prev ${prev}, next ${next}`;
          break;
        case PageType.Branch:
          detail = `branch: ${cnt} children`;
          break;
        case PageType.Overflow:
          detail = `overflow: ${prev} bytes, next ${next}`;
          break;
        case PageType.Free:
          detail = `free: next ${next}`;
          break;
        default:
          detail = pageTypeName(t);
      }
      yield `page ${pgno}: ${detail}: LSN ${lsn}${why === undefined ? '' : `: BAD: ${why}`}\n`;
    }
    progress?.({ phase: 'pages', done: n, total: n, unit: 'pages' });
  } finally {
    file.close();
  }
}
