// Catastrophic recovery's data-page checks on the second core (docs/DESIGN.md §Recovery).
//
// Catastrophic recovery checks every page of every data file (I6, I7): checksum, identity, and
// its LSN against the end of the log and the page LSN map. Redo needs the same pages' LSNs to
// skip the records a page already holds (I10). Here a worker thread reads the data files present
// when recovery starts and runs checkPage — the function the inline checks run — on every page,
// publishing each page's verdict in shared memory: its LSN when sound, UNSOUND otherwise. The
// main thread meanwhile reads and checks the log; redo skips a record older than a page the
// worker found sound without reading the page, and the final check takes the worker's sound
// pages as checked (their LSNs are still compared with the end of the log and the map).
//
// A verdict only ever lets a check be skipped when the worker found the page sound: a page it
// found unsound, has not reached yet, or never reached (the worker failed, was slow to start, or
// the files are not real files: SimVfs) is read and checked inline exactly as without a worker,
// so errors are raised by the main thread, typed, with the same file and offset. The worker
// never writes; recovery writes no data page before it stops the worker (flushAll comes after
// finish()), so a verdict describes the bytes redo would have read. A path that names another
// file by the time the worker opens it (renamed by a replayed record) fails checkPage's file id
// check on every page: all unsound, all checked inline.

import { Worker, isMainThread, workerData } from 'node:worker_threads';
import type { Vfs } from '../io/vfs.js';
import { nodeVfs } from '../io/node.js';
import { PageOffset } from '../page/format.js';
import { type DataFile, checkPage } from '../page/pager.js';
import { type Lsn, readLsn } from '../util/lsn.js';

const KIND = 'cairn-pagecheck';

/** A page's verdict when checkPage refused it (a sound page's verdict is its LSN, ≥ 0). */
export const UNSOUND = -1;

/** Shared words: the worker's state, whether it started, then per file the lowest page checked (pages from there to the end are). */
const STATE = 0;
const STARTED = 1;
const HEAD = 2;
const RUNNING = 0;
const DONE = 1;
const FAILED = 2;

/**
 * Bytes read per call: a 64 KiB buffer stays in the core's cache between the read's copy and the
 * checksum (read + crc32 of the 125 MB data file: 70–90 ms in 64 KiB reads, 110–150 in 1 MiB).
 */
const CHUNK_BYTES = 64 * 1024;

/**
 * When the worker is used: data files of fewer bytes in all are checked inline (a worker takes
 * 30–370 ms to start here, longer than checking ~30 MB inline). For tests: `wait` makes start()
 * return only once the worker has checked every page or failed (so redo uses its verdicts);
 * `faultAfter` ≥ 0 makes the worker fail after that many pages of its first file.
 */
export const pageCheckTuning = { thread: true, minBytes: 48 * 1024 * 1024, wait: false, faultAfter: -1 };

/** For tests: records redo skipped on the worker's verdict, and pages the final check took as checked from it. */
export const pageCheckStats = { skipped: 0, sound: 0 };

export interface PageCheckFile {
  path: string;
  uid: number;
  pageSize: number;
  /** Whole pages in the file. */
  pages: number;
}

/**
 * Checks every page of one data file with checkPage, from the last page down (redo, in this
 * thread, mostly meets pages from the first up), writing into `out[pgno]` the page's LSN when
 * sound, else UNSOUND, and calling `report(pgno)` after each read with the lowest page done.
 * Runs of pages that `skip` (when given) marks as checked elsewhere are not read: their `out`
 * stays as it was. The worker runs this; so can a test, inline, on any Vfs.
 */
export function checkFilePages(vfs: Vfs, file: PageCheckFile, out: Float64Array, report: (pgno: number) => void, skip?: Uint8Array, faultAfter = -1): void {
  const ps = file.pageSize;
  const h = vfs.open(file.path, { readOnly: true });
  try {
    const per = Math.max(1, Math.floor(CHUNK_BYTES / ps));
    const chunk = Buffer.allocUnsafe(ps * per);
    for (let end = file.pages; end > 0; ) {
      if (faultAfter >= 0 && file.pages - end >= faultAfter) throw new Error(`planted page check failure at page ${end}`);
      const from = Math.max(0, end - per);
      const n = end - from;
      if (skip === undefined || skip.subarray(from, end).includes(0)) {
        const got = h.read(chunk.subarray(0, n * ps), from * ps);
        if (got < n * ps) throw new Error(`${file.path} ended at ${from * ps + got} bytes, expected ${file.pages * ps}`);
        for (let k = 0; k < n; k++) {
          const page = chunk.subarray(k * ps, (k + 1) * ps);
          out[from + k] = checkPage(page, from + k, file.uid) === undefined ? readLsn(page, PageOffset.lsnFile) : UNSOUND;
        }
      }
      end = from;
      report(end);
    }
  } finally {
    h.close();
  }
}

interface Job {
  kind: typeof KIND;
  files: PageCheckFile[];
  state: SharedArrayBuffer;
  lsns: SharedArrayBuffer;
  here: SharedArrayBuffer;
  faultAfter: number;
}

/** The main thread's side: the worker, and the verdicts it published. */
export class PageChecks {
  private readonly index = new Map<DataFile, number>();
  private readonly base: number[] = [];
  private readonly state: Int32Array;
  private readonly lsns: Float64Array;
  /** Per page: 1 when this thread checked it (the worker then need not). */
  private readonly here: Uint8Array;
  private worker: Worker | undefined;
  /** The lowest page checked per file when the worker was stopped: later verdicts are not read. */
  private frozen: number[] | undefined;

  private constructor(
    vfs: Vfs,
    private readonly files: DataFile[],
    private readonly specs: PageCheckFile[],
    thread: boolean,
  ) {
    let total = 0;
    files.forEach((f, i) => {
      this.index.set(f, i);
      this.base.push(total);
      total += specs[i]!.pages;
    });
    const Memory = thread ? SharedArrayBuffer : ArrayBuffer;
    const state = new Memory(4 * (HEAD + files.length));
    const lsns = new Memory(8 * Math.max(1, total));
    const here = new Memory(Math.max(1, total));
    this.state = new Int32Array(state);
    this.lsns = new Float64Array(lsns);
    this.here = new Uint8Array(here);
    this.lsns.fill(UNSOUND);
    specs.forEach((s, i) => (this.state[HEAD + i] = s.pages));
    if (!thread) {
      // In this thread, now: one sequential pass in 64 KiB reads instead of reads at redo's pace.
      this.state[STARTED] = 1;
      try {
        specs.forEach((f, i) => checkFilePages(vfs, f, this.lsns.subarray(this.base[i]!, this.base[i]! + f.pages), (pgno) => (this.state[HEAD + i] = pgno)));
        this.state[STATE] = DONE;
      } catch {
        this.state[STATE] = FAILED; // redo and the final check read what has no verdict
      }
      return;
    }
    const job: Job = { kind: KIND, files: specs, state: state as SharedArrayBuffer, lsns: lsns as SharedArrayBuffer, here: here as SharedArrayBuffer, faultAfter: pageCheckTuning.faultAfter };
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    w.unref();
    // A worker that fails to start or dies reports here, after recovery is over: its pages were
    // checked inline (nothing was skipped on its account).
    w.on('error', () => {});
    this.worker = w;
  }

  /**
   * Checks the pages of `files`: in a worker when they are real files (nodeVfs) and large enough
   * to pay for the thread, else here and now.
   */
  static start(vfs: Vfs, files: DataFile[]): PageChecks | undefined {
    if (files.length === 0) return undefined;
    const specs: PageCheckFile[] = [];
    let bytes = 0;
    for (const f of files) {
      const size = vfs.stat(f.path)?.size ?? 0;
      bytes += size;
      specs.push({ path: f.path, uid: f.uid, pageSize: f.pageSize, pages: Math.floor(size / f.pageSize) });
    }
    const thread = pageCheckTuning.thread && vfs === nodeVfs && bytes >= pageCheckTuning.minBytes;
    const checks = new PageChecks(vfs, files, specs, thread);
    if (pageCheckTuning.wait) checks.await(10_000);
    return checks;
  }

  /** Blocks until the worker has finished or failed, or `ms` have passed. */
  private await(ms: number): void {
    const until = performance.now() + ms;
    while (Atomics.load(this.state, STATE) === RUNNING && performance.now() < until) Atomics.wait(this.state, STATE, RUNNING, 50);
  }

  /** The page's LSN when the worker has found it sound, else UNSOUND (not checked by the worker, or unsound: check it inline). */
  lsnOf(file: DataFile, pgno: number): Lsn {
    const i = this.index.get(file);
    if (i === undefined) return UNSOUND;
    const from = this.frozen !== undefined ? this.frozen[i]! : Atomics.load(this.state, HEAD + i);
    return pgno >= from ? this.lsns[this.base[i]! + pgno]! : UNSOUND;
  }

  /** Notes that redo skipped a record on the worker's verdict (for tests). */
  skipped(): void {
    pageCheckStats.skipped++;
  }

  /** Notes that this thread read and checked the page (the worker may skip it). */
  checkedHere(file: DataFile, pgno: number): void {
    const i = this.index.get(file);
    if (i !== undefined && pgno < this.specs[i]!.pages) this.here[this.base[i]! + pgno] = 1;
  }

  /**
   * Lets a started worker finish (as long as it makes progress), then stops it; returns, per
   * file, each page's verdict (its LSN when the worker found it sound, else UNSOUND). A worker that has not started yet is not
   * waited for: the final check reads what it did not check.
   */
  finish(): Map<DataFile, Float64Array> {
    if (this.frozen === undefined && Atomics.load(this.state, STARTED) === 1) {
      let progress = -1;
      let still = 0;
      while (Atomics.load(this.state, STATE) === RUNNING && still < 20) {
        Atomics.wait(this.state, STATE, RUNNING, 50);
        let now = 0;
        for (let i = 0; i < this.files.length; i++) now -= Atomics.load(this.state, HEAD + i);
        still = now === progress ? still + 1 : 0;
        progress = now;
      }
    }
    this.stop();
    const out = new Map<DataFile, Float64Array>();
    this.files.forEach((f, i) => {
      const sound = new Float64Array(this.specs[i]!.pages).fill(UNSOUND);
      const from = this.frozen![i]!;
      sound.set(this.lsns.subarray(this.base[i]! + from, this.base[i]! + sound.length), from);
      for (const lsn of sound) if (lsn !== UNSOUND) pageCheckStats.sound++;
      out.set(f, sound);
    });
    return out;
  }

  /** Ends the worker; verdicts published so far stay readable, later ones are not read. */
  stop(): void {
    if (this.frozen === undefined) this.frozen = this.files.map((_, i) => Atomics.load(this.state, HEAD + i));
    if (this.worker !== undefined) void this.worker.terminate();
    this.worker = undefined;
  }

  /** Did the worker check every page it was given, without failing? (For tests.) */
  get completed(): boolean {
    return Atomics.load(this.state, STATE) === DONE;
  }
}

function serve(job: Job): void {
  const state = new Int32Array(job.state);
  const lsns = new Float64Array(job.lsns);
  const here = new Uint8Array(job.here);
  Atomics.store(state, STARTED, 1);
  try {
    let base = 0;
    job.files.forEach((f, i) => {
      const out = lsns.subarray(base, base + f.pages);
      checkFilePages(nodeVfs, f, out, (pgno) => Atomics.store(state, HEAD + i, pgno), here.subarray(base, base + f.pages), i === 0 ? job.faultAfter : -1);
      base += f.pages;
    });
    Atomics.store(state, STATE, DONE);
  } catch {
    // The main thread checks inline every page without a verdict.
    Atomics.store(state, STATE, FAILED);
  }
  Atomics.notify(state, STATE);
}

if (!isMainThread && (workerData as { kind?: string } | undefined)?.kind === KIND) serve(workerData as Job);
