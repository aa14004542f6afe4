// db_load's engine side (issue 5): read a dump, check all of it, then load it atomically.
//
// Two passes over the input:
//   1. Check: the whole dump is parsed (src/dump/) and every record checked against what the
//      load will need (key and value limits, fixed record lengths, one type per database).
//      Standard input (or any input that is not a regular file) is copied to a spool file in
//      the OS temporary directory meanwhile (by the command line: cli/load.ts dumpInput). Nothing in the environment has been touched yet,
//      so a malformed dump changes nothing on disk: no environment, no file, no log record.
//   2. Load, atomically:
//      * a new data file is built under a temporary name beside it (`.db_load.<pid>.<name>`) in
//        batches of about BATCH_BYTES, then renamed to its real name in one committed
//        transaction. Memory stays bounded by the batch size. A load that fails removes the
//        temporary file; a load that is killed leaves it behind, and the next read-write open of
//        that environment removes it (Environment.removeLoadTemps);
//      * an existing data file is loaded in ONE transaction (databases created inside it through
//        Environment.createDatabaseIn), which commits or aborts as a whole. Its memory bound is
//        the transaction's: every page it changes, plus each loaded record once (about twice the
//        size of the data loaded).
//   When db_load created the environment itself and the load fails, the files it created are
//   removed again.

import * as path from 'node:path';
import { DumpParser, encodeItem, type DumpEvent, type DumpHeader, type DumpParserOptions } from '../dump/format.js';
import { Environment } from '../env/environment.js';
import { MAX_KEY_SIZE, MAX_VALUE_SIZE, type Database } from '../env/database.js';
import type { Transaction } from '../txn/txn.js';
import { CairnError, IoError } from '../util/errors.js';
import { RawDataFile } from './datafile.js';
import { descriptorFor, dupModeOf, fixedLength, headerFor, isRecnoType, recnoKey } from './dbmeta.js';
import { controlOf, looksLikeEnvironment } from './envfiles.js';
import { type Layout, readLayout, resolveDataFile } from '../recovery/layout.js';
import { nodeVfs } from '../io/node.js';
import { processIsAlive } from '../env/lock.js';
import { LOAD_TEMP_PREFIX, MAX_FILE_NAME_BYTES, fileNameProblem } from '../recovery/names.js';

/** Records are committed in batches of about this many bytes while a new file is built. */
export const BATCH_BYTES = 8 * 1024 * 1024;
let batchBytes = BATCH_BYTES;

/** @internal Tests use small batches to exercise several commits. */
export function setBatchBytes(n: number): void {
  batchBytes = n;
}
const TEMP_PREFIX = '.db_load.';

export interface LoadRequest {
  home: string;
  /** The db_file operand (a name in the environment's data directories, or a path). */
  file: string;
  /** The dump (-f file, else standard input), opened by the command line. */
  input: LoadInput;
  parser: DumpParserOptions;
  /** -n: do not overwrite existing keys. */
  noOverwrite: boolean;
  /** One line for each record -n skipped. */
  warn: (message: string) => void;
  /** Progress: 'check' (input bytes read of its size, when it is a file), then 'load' (records written of those checked). */
  progress?: import('../util/progress.js').ProgressCallback | undefined;
}

/** Where the dump comes from: the command line opens it (cli/load.ts dumpInput) and hands it down. */
export interface LoadInput {
  /**
   * Pass 1, called once, after the request's own checks: the dump's chunks, and its size in bytes
   * when known (the check's progress total). Throws when the input cannot be opened.
   */
  first(): { chunks: AsyncIterable<Uint8Array | string>; size: number | undefined };
  /** Pass 2, after pass 1 has read it all: the same dump again. */
  again(): AsyncIterable<Uint8Array | string>;
  /** Releases what pass 1 kept (the spool of a one-pass input); called once when runLoad ends. */
  close(): void;
}

export interface LoadResult {
  sections: number;
  records: number;
  skipped: number;
  createdEnvironment: boolean;
}

/** What db_load refuses, and why: a CairnError the CLI reports with db_load's error status (2). */
class LoadError extends CairnError {}

function fail(message: string): never {
  throw new LoadError('INVALID_ARGUMENT', message);
}

/** The database a section loads into: undefined for the unnamed one. */
function targetOf(h: DumpHeader): string | undefined {
  return h.database === undefined || h.database === '' ? undefined : h.database;
}

function show(name: string | undefined): string {
  return name === undefined ? 'the unnamed database' : `database "${name}"`;
}

interface Plan {
  header: DumpHeader;
  line: number;
}

interface Checked {
  sections: number;
  records: number;
  /** Per target database (key '' for unnamed): the first section's header. */
  targets: Map<string, Plan>;
  firstHeader: DumpHeader | undefined;
}

/** Runs a parser over chunks, handing each event to `fn`. Parse errors become LoadErrors (exit 2). */
async function parse(source: AsyncIterable<Uint8Array | string>, options: DumpParserOptions, fn: (e: DumpEvent) => void | Promise<void>, onBytes?: (bytes: number) => void): Promise<void> {
  let parser: DumpParser;
  try {
    // cairn's limits, checked while the lines stream in: a 200 MB key line is refused once 128 KiB
    // of it is read, a re_len above the value limit at its header line (F17).
    parser = new DumpParser({ ...options, limits: { key: MAX_KEY_SIZE, value: MAX_VALUE_SIZE } });
  } catch (e) {
    fail((e as Error).message);
  }
  const run = async (events: () => DumpEvent[]): Promise<void> => {
    let list: DumpEvent[];
    try {
      list = events();
    } catch (e) {
      if (e instanceof CairnError) fail(e.message);
      throw e;
    }
    for (const ev of list) await fn(ev);
  };
  for await (const chunk of source) {
    await run(() => parser.write(chunk));
    onBytes?.(chunk.length); // progress
  }
  await run(() => parser.end());
}

function valueLine(recordLine: number, keyed: boolean): number {
  return keyed ? recordLine + 1 : recordLine;
}

/** Pass 1: checks the whole input. */
async function check(source: AsyncIterable<Uint8Array | string>, options: DumpParserOptions, progress?: LoadRequest['progress'], size?: number): Promise<Checked> {
  let read = 0; // progress
  const onBytes = progress && ((n: number) => progress({ phase: 'check', done: (read += n), total: size, unit: 'bytes' }));
  const out: Checked = { sections: 0, records: 0, targets: new Map(), firstHeader: undefined };
  let cur: { h: DumpHeader; keyed: boolean; fixed: { reLen: number; pad: number } | undefined } | undefined;
  await parse(
    source,
    options,
    (ev) => {
      if (ev.kind === 'header') {
        const h = ev.header;
        const at = ev.line > 0 ? `line ${ev.line}: ` : '';
        out.sections++;
        out.firstHeader ??= h;
        if (isRecnoType(h.type) && (h.duplicates === true || h.dupsort === true)) {
          fail(`${at}a ${h.type} database cannot have duplicates (duplicates=1 / dupsort=1)`);
        }
        if (h.type === 'queue' && h.reLen === undefined) {
          fail(`${at}a queue database needs a record length: re_len=N in the header, or db_load -c re_len=N`);
        }
        if (h.type === 'queue' && h.reLen === 0) fail(`${at}re_len=0: a queue record length must be at least 1`);
        const key = targetOf(h) ?? '';
        const before = out.targets.get(key);
        if (before === undefined) out.targets.set(key, { header: h, line: ev.line });
        else {
          const b = before.header;
          if (b.type !== h.type || dupModeOf(b) !== dupModeOf(h) || fixedLength(b)?.reLen !== fixedLength(h)?.reLen) {
            fail(`${at}a second block for ${show(targetOf(h))} must have the type, duplicates and re_len of the first (line ${before.line})`);
          }
        }
        const first = out.targets.get(key)!.header;
        cur = { h: first, keyed: !isRecnoType(h.type) || h.keys === true, fixed: fixedLength(first) };
        return;
      }
      if (ev.kind === 'record') {
        const r = ev.record;
        out.records++;
        const c = cur!;
        if (!isRecnoType(c.h.type) && r.key.length > MAX_KEY_SIZE) {
          fail(`line ${r.line}: key of ${r.key.length} bytes exceeds cairn's limit of ${MAX_KEY_SIZE}`);
        }
        const vl = valueLine(r.line, c.keyed);
        if (r.value.length > MAX_VALUE_SIZE) fail(`line ${vl}: value of ${r.value.length} bytes exceeds cairn's limit of ${MAX_VALUE_SIZE}`);
        if (c.fixed !== undefined && r.value.length > c.fixed.reLen) {
          fail(`line ${vl}: record ${r.recno ?? r.index} is ${r.value.length} bytes, longer than the fixed record length re_len=${c.fixed.reLen}`);
        }
      }
    },
    onBytes,
  );
  return out;
}

/** Checks an existing database against the section that loads into it. */
function checkCompatible(desc: Parameters<typeof headerFor>[0], pageSize: number, h: DumpHeader, line: number, file: string, name: string | undefined): void {
  const at = line > 0 ? `line ${line}: ` : '';
  const where = `${file}: ${show(name)}`;
  const existing = headerFor(desc, pageSize, { format: 'bytevalue', keys: false }, where);
  if (existing.type !== h.type) fail(`${at}${where} exists as a ${existing.type} database; the dump is ${h.type} (load it into another file or database, or convert with -t ${existing.type})`);
  const had = dupModeOf(existing);
  const want = dupModeOf(h);
  if (had !== want) fail(`${at}${where} exists with duplicates ${had}; the dump has duplicates ${want}`);
  if (fixedLength(existing)?.reLen !== fixedLength(h)?.reLen) {
    fail(`${at}${where} exists with re_len=${existing.reLen ?? 'none'}; the dump has re_len=${h.reLen ?? 'none'}`);
  }
}

/**
 * Before opening the environment: checks an existing target file from disk. Only when the
 * environment was closed cleanly (otherwise the file on disk may be behind its log).
 */
function precheckExisting(layout: Layout, file: string, targets: Map<string, Plan>): void {
  const p = resolveDataFile(nodeVfs, layout, file);
  if (!exists(p)) return;
  const control = controlOf(layout.home);
  if (control === undefined || control.state !== 'closed') return;
  let raw: RawDataFile;
  try {
    raw = RawDataFile.open(p);
  } catch (e) {
    fail(`${file}: ${(e as Error).message}`);
  }
  try {
    if (raw.metaProblem !== undefined) fail(`${file}: the meta page is damaged (${raw.metaProblem}); run db_verify`);
    if (raw.meta.envId.toString('hex') !== control.envId) {
      fail(`${file} belongs to another environment (id ${raw.meta.envId.toString('hex')}, this one is ${control.envId}); load into a new file, or dump it from its own environment`);
    }
    const catalog = new Map(raw.catalog().map((e) => [e.name, e.desc]));
    for (const [key, plan] of targets) {
      const desc = catalog.get(key);
      if (desc !== undefined) checkCompatible(desc, raw.pageSize, plan.header, plan.line, file, key === '' ? undefined : key);
    }
  } catch (e) {
    if (e instanceof LoadError) throw e;
    fail(`${file}: ${(e as Error).message}; run db_verify`);
  } finally {
    raw.close();
  }
}

function exists(p: string): boolean {
  try {
    return nodeVfs.stat(p) !== undefined;
  } catch {
    return false;
  }
}

function listFiles(dir: string): Set<string> {
  try {
    return new Set(nodeVfs.readdir(dir));
  } catch {
    return new Set();
  }
}

/** Removes a file, or a directory and all in it (a symbolic link is removed, never followed). */
function removeAll(p: string): void {
  try {
    nodeVfs.unlink(p);
    return;
  } catch (e) {
    if (e instanceof IoError && e.errno === 'ENOENT') return;
    if (!(e instanceof IoError && (e.errno === 'EISDIR' || e.errno === 'EPERM'))) throw e; // unlink(2) of a directory: EISDIR (Linux), EPERM (POSIX)
  }
  for (const name of nodeVfs.readdir(p)) removeAll(path.join(p, name));
  nodeVfs.rmdir(p);
}

/** Removes what an environment creation left (the files that were not there before). */
function removeCreated(dirs: Map<string, Set<string>>): void {
  for (const [dir, before] of dirs) {
    for (const name of listFiles(dir)) {
      if (before.has(name)) continue;
      try {
        removeAll(path.join(dir, name));
      } catch {
        // best effort: report the load's own error
      }
    }
  }
}

/** Temporary data files of killed loads (we own the environment now, so nothing else uses them). */
async function removeStaleTemps(env: Environment, layout: Layout): Promise<void> {
  for (const dir of layout.dataDirs.length > 0 ? layout.dataDirs : [layout.home]) {
    for (const name of listFiles(dir)) {
      const m = /^\.db_load\.(\d+)\./.exec(name);
      if (!m || (Number(m[1]) !== process.pid && processIsAlive(Number(m[1])))) continue;
      try {
        await env.removeDatabase(name); // a plain name: the environment finds it in its data directories
      } catch {
        // not one of ours (another environment's file): leave it
      }
    }
  }
}

interface Current {
  db: Database;
  h: DumpHeader;
  recno: boolean;
  fixed: { reLen: number; pad: number } | undefined;
  keyed: boolean;
}

/** Loads a checked dump. */
export async function runLoad(req: LoadRequest): Promise<LoadResult> {
  // The file operand is a plain name in the data directories (docs/DESIGN.md §Data file names), checked before anything is read or made.
  const why = fileNameProblem(req.file);
  if (why !== undefined) fail(why);
  if (req.file.startsWith(LOAD_TEMP_PREFIX)) fail(`database file name ${JSON.stringify(req.file)} is reserved for db_load's temporary files; choose another name`);
  const layout = readLayout(nodeVfs, req.home);
  // Pass 1.
  try {
    const input = req.input.first();
    const checked = await check(input.chunks, req.parser, req.progress, input.size);
    if (checked.sections === 0) fail('the input holds no database');
    precheckExisting(layout, req.file, checked.targets);
    const progress = req.progress; // the load's records of those checked
    return await loadChecked(progress === undefined ? req : { ...req, progress: (p) => progress({ ...p, total: checked.records }) }, layout, checked);
  } finally {
    req.input.close();
  }
}

async function loadChecked(req: LoadRequest, layout: Layout, checked: Checked): Promise<LoadResult> {
  const createdEnvironment = !looksLikeEnvironment(req.home);
  const before = new Map<string, Set<string>>();
  if (createdEnvironment) {
    before.set(req.home, listFiles(req.home));
    if (layout.logDir !== req.home) before.set(layout.logDir, listFiles(layout.logDir));
  }
  const pageSize = checked.firstHeader?.dbPagesize;
  let env: Environment;
  try {
    env = await Environment.open(req.home, { create: createdEnvironment, ...(pageSize !== undefined ? { pageSize } : {}) });
  } catch (e) {
    if (createdEnvironment) removeCreated(before);
    throw e;
  }
  const result: LoadResult = { sections: 0, records: 0, skipped: 0, createdEnvironment };
  let ok = false;
  try {
    await removeStaleTemps(env, layout);
    let existing: string[] | undefined;
    try {
      existing = env.listDatabases(req.file);
    } catch (e) {
      if (!(e instanceof CairnError && e.code === 'NOT_FOUND')) throw e;
    }
    if (existing === undefined) await loadNewFile(env, req, result);
    else await loadExistingFile(env, req, new Set(existing), result);
    req.progress?.({ phase: 'load', done: result.records, total: checked.records, unit: 'records' });
    ok = true;
  } finally {
    await env.close();
    if (!ok && createdEnvironment) removeCreated(before);
  }
  return result;
}

function tempName(file: string): string {
  // A name past the longest allowed is cut: it is only ever a temporary name.
  return Buffer.from(`${TEMP_PREFIX}${process.pid}.${file}`, 'utf8').subarray(0, MAX_FILE_NAME_BYTES).toString('utf8').replace(/\uFFFD$/, '').trimEnd();
}

function storeKey(cur: Current, key: Buffer, recno: number | undefined): Buffer {
  return cur.recno ? recnoKey(recno!) : key;
}

function storeValue(cur: Current, value: Buffer): Buffer {
  const f = cur.fixed;
  if (f === undefined || value.length >= f.reLen) return value;
  const out = Buffer.alloc(f.reLen, f.pad);
  value.copy(out, 0);
  return out;
}

/** The -n message for a skipped key, the key in the dump's own encoding. */
function skippedMessage(req: LoadRequest, cur: Current, line: number, key: Buffer, recno: number | undefined): string {
  const shown = cur.recno ? String(recno) : encodeItem(key, cur.h.format);
  return `${req.file}: line ${line}: key already exists, not loaded: ${shown}`;
}

/** Applies one record inside `txn`. */
function putRecord(req: LoadRequest, cur: Current, txn: Transaction, ev: Extract<DumpEvent, { kind: 'record' }>, result: LoadResult): number {
  const r = ev.record;
  const key = storeKey(cur, r.key, r.recno);
  const value = storeValue(cur, r.value);
  result.records++;
  if (result.records % 1000 === 0) req.progress?.({ phase: 'load', done: result.records, total: undefined, unit: 'records' });
  const stored = cur.db.put(key, value, txn, req.noOverwrite ? { noOverwrite: true } : undefined);
  if (!stored) {
    result.skipped++;
    req.warn(skippedMessage(req, cur, r.line, r.key, r.recno));
  }
  return key.length + value.length;
}

function currentFor(db: Database, h: DumpHeader): Current {
  return { db, h, recno: isRecnoType(h.type), fixed: fixedLength(h), keyed: !isRecnoType(h.type) || h.keys === true };
}

/** A new file: built under a temporary name in batches, renamed into place at the end. */
async function loadNewFile(env: Environment, req: LoadRequest, result: LoadResult): Promise<void> {
  const tmp = tempName(req.file);
  const handles = new Map<string, Database>();
  let txn: Transaction | undefined;
  let batch = 0;
  let created = false;
  const flush = async (): Promise<void> => {
    if (txn === undefined) return;
    const t = txn;
    txn = undefined;
    batch = 0;
    await t.commit({ durability: 'nosync' }); // the final rename is a sync commit and covers these
  };
  let cur: Current | undefined;
  try {
    await parse(req.input.again(), req.parser, async (ev) => {
      if (ev.kind === 'header') {
        result.sections++;
        const h = ev.header;
        const key = targetOf(h) ?? '';
        let db = handles.get(key);
        if (db === undefined) {
          await flush();
          created = true;
          db = await env.openDatabase(tmp, {
            create: true,
            exclusive: true,
            temporary: true,
            ...(targetOf(h) !== undefined ? { name: targetOf(h) } : {}),
            duplicates: dupModeOf(h) === 'none' ? false : dupModeOf(h),
            descriptor: descriptorFor(h, env.pageSize),
          });
          handles.set(key, db);
          cur = currentFor(db, h);
        } else {
          cur = currentFor(db, headerFor(db.descriptor, db.file.pageSize, { format: h.format, keys: h.keys === true }, req.file));
        }
        cur.h = { ...cur.h, format: h.format };
        return;
      }
      if (ev.kind === 'record') {
        txn ??= env.begin();
        batch += putRecord(req, cur!, txn, ev, result);
        if (batch >= batchBytes) await flush();
      }
    });
    await flush();
    await env.renameDatabase(tmp, undefined, req.file);
  } catch (e) {
    (txn as Transaction | undefined)?.abort();
    if (created) {
      try {
        await env.removeDatabase(tmp);
      } catch {
        // the environment is failing; the next db_load removes the temporary file
      }
    }
    throw e;
  }
}

/** An existing file: one transaction for the whole load. */
async function loadExistingFile(env: Environment, req: LoadRequest, names: Set<string>, result: LoadResult): Promise<void> {
  const txn = env.begin();
  const handles = new Map<string, Database>();
  let cur: Current | undefined;
  try {
    await parse(req.input.again(), req.parser, async (ev) => {
      if (ev.kind === 'header') {
        result.sections++;
        const h = ev.header;
        const name = targetOf(h);
        const key = name ?? '';
        let db = handles.get(key);
        if (db === undefined) {
          if (names.has(key)) {
            db = await env.openDatabase(req.file, name !== undefined ? { name } : {});
            checkCompatible(db.descriptor, db.file.pageSize, h, ev.line, req.file, name);
          } else {
            db = env.createDatabaseIn(txn, req.file, {
              ...(name !== undefined ? { name } : {}),
              duplicates: dupModeOf(h) === 'none' ? false : dupModeOf(h),
              descriptor: descriptorFor(h, env.pageSize),
            });
          }
          handles.set(key, db);
        }
        const stored = headerFor(db.descriptor, db.file.pageSize, { format: h.format, keys: h.keys === true }, req.file);
        cur = currentFor(db, { ...stored, format: h.format });
        return;
      }
      if (ev.kind === 'record') putRecord(req, cur!, txn, ev, result);
    });
    await txn.commit();
  } catch (e) {
    txn.abort();
    throw e;
  }
}
