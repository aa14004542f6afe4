// Copying the files of a hot backup (hotbackup.ts): data files page by page with their checks,
// log files whole or moved, each hashed and fsynced in steps.

import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { FileHandle, Vfs } from '../io/vfs.js';
import { LOG_HEADER_SIZE, decodeLogHeader } from '../log/file.js';
import { checkPage, isZeroPage } from '../page/pager.js';
import { CorruptionError, IoError } from '../util/errors.js';
import type { DataFileInfo } from './layout.js';

const yieldNow = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A copy is flushed to disk every this many bytes (fdatasync in the thread pool, awaited): a
 * writer's commit fdatasync in the source then waits behind at most this much of the copy's
 * writeback instead of tens of MB (the device flush it ends with waits for all writes in flight).
 */
const WRITEBACK_STEP = 2 * 1024 * 1024;

/** Between two chunks of a copy: a flush of the copy every WRITEBACK_STEP bytes, else a turn of the event loop. */
function stepper(out: FileHandle): (bytes: number) => Promise<void> {
  let unsynced = 0;
  return async (bytes: number) => {
    unsynced += bytes;
    if (unsynced >= WRITEBACK_STEP) {
      unsynced = 0;
      await out.syncAsync();
    } else await yieldNow();
  };
}

/** Attempts to read a page that fails its check before calling it damaged. */
const PAGE_READS = 40;
const LOG_HEADER_READS = 40;

/** Why a copied page is not acceptable, or undefined. All zeros: allocated, never written. */
function pageProblem(page: Buffer, pgno: number, uid: number): string | undefined {
  if (isZeroPage(page)) return undefined;
  return checkPage(page, pgno, uid);
}


export function mkdirp(vfs: Vfs, dir: string): void {
  if (vfs.stat(dir)?.isDirectory) return;
  vfs.mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Reads a whole file in chunks, yielding to the event loop; returns sha256 and size. */
async function hashFile(vfs: Vfs, p: string): Promise<{ sha256: string; size: number }> {
  const h = vfs.open(p, { readOnly: true });
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let at = 0;
  try {
    for (;;) {
      const n = h.read(buf, at);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      at += n;
      if (n < buf.length) break;
      await yieldNow();
    }
  } finally {
    h.close();
  }
  return { sha256: hash.digest('hex'), size: at };
}

/**
 * The fdatasyncs of copied files, each started as its copy ends and all awaited before the
 * manifest says the backup is copied: the disk writes one file back while the next is copied,
 * and the source's writers keep committing (thread pool, not the event loop). The order in
 * which copies become durable does not matter — until the manifest says 'copied' the target is
 * no backup — only that all are before. A failed fsync fails the backup (I8).
 */
export class PendingSyncs {
  private readonly pending: Promise<void>[] = [];

  /** Syncs `h` and then closes it. */
  add(h: FileHandle): void {
    this.pending.push(h.syncAsync().finally(() => h.close()));
  }

  /** Waits for every sync; throws the first failure. */
  async done(): Promise<void> {
    const results = await Promise.allSettled(this.pending.splice(0));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }
}

/**
 * Copies a whole file (a log file, DB_CONFIG): chunked, hashed, fsynced (with `syncs`: started
 * there, awaited later). The chunks are read LAST FIRST, for the reason log files are copied
 * newest first: the log is written in order, so what the writer appends while we copy can only
 * complete what a read of a later chunk already saw. First chunk first could read a chunk before
 * the writer reached its end and the next one after: zeros between records in the copy, which
 * recovery rightly refuses as corruption.
 */
export async function copyPlain(vfs: Vfs, from: string, to: string, check?: (head: Buffer) => Promise<void>, syncs?: PendingSyncs, onBytes?: (bytes: number) => void): Promise<{ sha256: string; size: number }> {
  const h = vfs.open(from, { readOnly: true });
  try {
    if (check) {
      const head = Buffer.alloc(LOG_HEADER_SIZE);
      h.read(head, 0);
      await check(head);
    }
    const out = vfs.open(to, { create: true });
    const CHUNK = 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    let handed = false;
    const step = stepper(out);
    try {
      out.truncate(0);
      const length = h.size();
      for (let at = Math.floor(Math.max(0, length - 1) / CHUNK) * CHUNK; at >= 0; at -= CHUNK) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(0, length - at)));
        const n = h.read(buf, at);
        const chunk = buf.subarray(0, n);
        // An all-zero chunk (the preallocated tail of a log file) is not written: the copy is
        // extended to its size below, and reads as the same zeros (sparse) — less writeback to
        // compete with the source's commits, for the same bytes and hash.
        const zero = isZeroPage(chunk);
        if (n > 0 && !zero) out.write(chunk, at);
        chunks.unshift(chunk);
        size = Math.max(size, at + n);
        onBytes?.(n);
        if (at > 0) await step(zero ? 0 : n);
      }
      if (out.size() < size) out.truncate(size);
      // fdatasync without blocking the event loop: the source's writers keep committing.
      if (syncs !== undefined) {
        syncs.add(out);
        handed = true;
      } else await out.syncAsync();
    } finally {
      if (!handed) out.close();
    }
    const hash = createHash('sha256');
    for (const c of chunks) hash.update(c);
    return { sha256: hash.digest('hex'), size };
  } finally {
    h.close();
  }
}

/**
 * Reads page `n` of a data file again until it passes its check (it may have been caught
 * mid-write), into `single`: the page, or undefined when the file ends before it (shrank, or
 * still being extended). After PAGE_READS failed reads it is damage: CorruptionError.
 */
async function readPageAgain(h: FileHandle, src: DataFileInfo, single: Buffer, n: number, firstWhy: string): Promise<{ page: Buffer | undefined; reads: number }> {
  const ps = src.pageSize;
  let why = firstWhy;
  for (let attempt = 1; attempt <= PAGE_READS; attempt++) {
    await sleep(Math.min(25, attempt));
    const got = h.read(single, n * ps);
    if (got < ps) return { page: undefined, reads: attempt }; // shrank or still being extended: treated as the end
    const p = pageProblem(single, n, src.uid);
    if (p === undefined) return { page: single, reads: attempt };
    why = p;
  }
  throw new CorruptionError(src.path, n * ps, `page ${n}: ${why}, on ${PAGE_READS} reads in a row (not a page caught mid-write): the source data file is damaged; check it with db_verify, and recover the source from a backup if it is`);
}

/**
 * Copies a data file page by page, verifying every page (checksum, own page number, own file id:
 * I6). A page that fails is read again (a checkpoint may be writing it right now); one that still
 * fails after PAGE_READS reads is damage in the source, reported with file and offset.
 */
export async function copyDataFile(vfs: Vfs, src: DataFileInfo, to: string, say: (m: string) => void, syncs: PendingSyncs, onBytes: (bytes: number) => void): Promise<{ sha256: string; size: number; pages: number; reread: number }> {
  const ps = src.pageSize;
  const h = vfs.open(src.path, { readOnly: true });
  const out = vfs.open(to, { create: true });
  const hash = createHash('sha256');
  let reread = 0;
  let pgno = 0;
  let handed = false;
  const step = stepper(out);
  try {
    out.truncate(0);
    const chunk = Buffer.allocUnsafe(Math.max(1, Math.floor((256 * 1024) / ps)) * ps);
    const single = Buffer.allocUnsafe(ps);
    const readAgain = async (n: number, why: string): Promise<Buffer | undefined> => {
      const r = await readPageAgain(h, src, single, n, why);
      reread += r.reads;
      return r.page;
    };
    for (;;) {
      const got = h.read(chunk, pgno * ps);
      const whole = Math.floor(got / ps);
      // Verified pages are written (and hashed) in runs: one write per run of sound pages
      // instead of one per page.
      let run = 0;
      const flushRun = (upTo: number) => {
        if (upTo > run) {
          const bytes = chunk.subarray(run * ps, upTo * ps);
          out.write(bytes, (pgno + run) * ps);
          hash.update(bytes);
        }
      };
      for (let i = 0; i < whole; i++) {
        const n = pgno + i;
        const why = pageProblem(chunk.subarray(i * ps, (i + 1) * ps), n, src.uid);
        if (why !== undefined) {
          flushRun(i);
          run = i + 1;
          const again = await readAgain(n, why);
          if (again === undefined) {
            say(`${src.path}: page ${n} is being added right now; the copy ends before it (the log rebuilds it)`);
            return await finish(n);
          }
          out.write(again, n * ps);
          hash.update(again);
        }
      }
      flushRun(whole);
      pgno += whole;
      onBytes(whole * ps);
      if (got < chunk.length) {
        if (got % ps !== 0) {
          // A page being appended: read it again once it is whole, or end the copy before it.
          const again = await readAgain(pgno, 'page cut short');
          if (again !== undefined) {
            out.write(again, pgno * ps);
            hash.update(again);
            pgno++;
          }
        }
        break;
      }
      await step(got);
    }
    return await finish(pgno);
  } finally {
    h.close();
    if (!handed) out.close();
  }
  async function finish(pages: number) {
    out.truncate(pages * ps);
    syncs.add(out);
    handed = true;
    return { sha256: hash.digest('hex'), size: pages * ps, pages, reread };
  }
}

/** Checks a log file's header before copying it: its own number, our environment. A file just being created may not have its header yet: wait for it. */
export function logHeaderCheck(vfs: Vfs, file: string, fileNo: number, envId: Buffer): (head: Buffer) => Promise<void> {
  return async (head: Buffer) => {
    let h = decodeLogHeader(head);
    for (let i = 0; h === undefined && i < LOG_HEADER_READS; i++) {
      await sleep(Math.min(25, i + 1));
      const fh = vfs.open(file, { readOnly: true });
      try {
        fh.read(head, 0);
      } finally {
        fh.close();
      }
      h = decodeLogHeader(head);
    }
    if (h === undefined) throw new CorruptionError(file, 0, 'log file header is damaged; the source log is corrupt: check it with db_printlog');
    if (h.fileNo !== fileNo) throw new CorruptionError(file, 12, `log header says file ${h.fileNo}; the file was renamed or copied over`);
    if (!h.envId.equals(envId)) throw new CorruptionError(file, 20, `log file belongs to another environment (id ${h.envId.toString('hex')}, expected ${envId.toString('hex')})`);
  };
}

/** Moves a log file into the backup (rename; across file systems copy, fsync, then unlink). */
export async function moveLogFile(vfs: Vfs, from: string, to: string, fileNo: number, envId: Buffer): Promise<{ sha256: string; size: number }> {
  const head = Buffer.alloc(LOG_HEADER_SIZE);
  const fh = vfs.open(from, { readOnly: true });
  try {
    fh.read(head, 0);
  } finally {
    fh.close();
  }
  await logHeaderCheck(vfs, from, fileNo, envId)(head);
  try {
    vfs.rename(from, to);
  } catch (e) {
    if (!(e instanceof IoError && e.errno === 'EXDEV')) throw e;
    const r = await copyPlain(vfs, from, to);
    vfs.syncDir(path.dirname(to));
    vfs.unlink(from);
    return r;
  }
  return hashFile(vfs, to);
}
