// Checkpoints and write-back (docs/DESIGN.md §Checkpoints): the fuzzy checkpoint (redo point,
// dirty pages written after the log is durable through them: I1, data files fsynced, the record
// and the control file), its triggers (log volume, time), the write-back that keeps dirty pages
// under the cache budget without a checkpoint, and the back-pressure that makes commits wait
// for it. It owns the checkpoint state; the environment owns the rest.

import * as path from 'node:path';
import type { LogWriter } from '../log/writer.js';
import type { DataFile } from '../page/pager.js';
import { INTERNAL_TXN, Transaction, type Durability } from '../txn/txn.js';
import { CairnError, CorruptionError, IoError, RunRecoveryError } from '../util/errors.js';
import { type Lsn, lsnFile, readLsn, writeLsn } from '../util/lsn.js';
import { MetaOffset } from '../page/meta.js';
import { writePageMap } from '../page/lsnmap.js';
import { writeControl } from './control.js';
import { isDataFileName } from '../recovery/layout.js';
import type { Environment } from './environment.js';

/** For promises whose outcome is reported elsewhere. */
const noop = (): void => {};

/** The most pages a checkpoint writes with one call (256 KiB of 4 KiB pages). */
const CHECKPOINT_RUN = 64;

export class Checkpointer {
  private readonly ckptKbytes: number;
  private readonly ckptMinutes: number;
  private ckptTimer: NodeJS.Timeout | undefined;
  /** The checkpoint running, if any. */
  ckptRunning: Promise<void> | undefined;
  /** The write-back running (runWriteBack), if any: never at the same time as a checkpoint. */
  wbRunning: Promise<void> | undefined;
  lastCkpt: Lsn;
  lastCkptTime = Date.now();
  private logAtLastCkpt: number;
  ckptCount = 0;

  constructor(
    private readonly env: Environment,
    opts: { kbytes: number; minutes: number; lastCkpt: Lsn; logBytes: number },
  ) {
    this.ckptKbytes = opts.kbytes;
    this.ckptMinutes = opts.minutes;
    this.lastCkpt = opts.lastCkpt;
    this.logAtLastCkpt = opts.logBytes;
    if (this.ckptMinutes > 0 && !env.readOnly) {
      this.ckptTimer = setInterval(() => this.timedCheckpoint(), Math.min(60_000, this.ckptMinutes * 60_000));
      this.ckptTimer.unref();
    }
  }

  /** The log writer (checkpoints run only in read-write environments). */
  private get log(): LogWriter {
    return this.env.log;
  }

  /** Stops the timed checkpoints (close). */
  stopTimer(): void {
    if (this.ckptTimer) clearInterval(this.ckptTimer);
  }

  /** A commit is as durable as `mode` asks (CommitPipeline): checkpoint triggers, back-pressure. */
  afterCommit(mode: Durability): Promise<void> | undefined {
    if (this.ckptKbytes > 0 && this.log.stats.bytes - this.logAtLastCkpt >= this.ckptKbytes * 1024) this.backgroundCheckpoint();
    // Dirty pages cannot be evicted before they are written. Past the whole cache budget, commits
    // are outrunning the write-backs that pressure (half the cache) starts: the commit waits until
    // a write-back (or the checkpoint running) brought dirty pages back under it, so memory stays
    // bounded. Their outcome is their own (a failure panics the environment).
    if (this.env.pager.dirtyPages * this.env.pageSize > this.env.pager.cacheSize) return this.relieve();
    if (this.ckptRunning === undefined && this.wbRunning === undefined) return undefined;
    // Checkpoints and write-backs write pages between event-loop turns. A loader awaiting relaxed
    // commits in a loop only ever waits on microtasks, so without this turn they could not
    // progress, and every page of the load stayed dirty in memory.
    if (mode !== 'sync') return new Promise<void>((r) => setImmediate(r));
    return undefined;
  }

  /**
   * A fuzzy checkpoint: takes the redo point, writes the pages dirty before it (after the log is
   * durable through them: I1), fsyncs the data files, logs the checkpoint and records the redo
   * point in the control file. Writers keep committing meanwhile; their pages' first change after
   * the redo point is logged whole (I4).
   */
  checkpoint(): Promise<void> {
    this.env.checkUsable();
    if (this.env.readOnly) return Promise.resolve();
    if (this.ckptRunning !== undefined) return this.ckptRunning.then(() => this.checkpoint());
    const run = this.runCheckpoint().catch((e: Error) => {
      this.env.panic(e);
      throw new RunRecoveryError(`checkpoint failed: ${e.message}`, { cause: e });
    });
    this.ckptRunning = run.finally(() => {
      this.ckptRunning = undefined;
    });
    return this.env.track(this.ckptRunning);
  }

  private backgroundCheckpoint(): void {
    if (this.ckptRunning !== undefined || this.env.closed || this.env.panicError) return;
    this.checkpoint().catch(() => {
      // the environment is panicked; callers see RunRecoveryError on their next call
    });
  }

  private timedCheckpoint(): void {
    if (Date.now() - this.lastCkptTime >= this.ckptMinutes * 60_000 && this.log.stats.bytes > this.logAtLastCkpt) this.backgroundCheckpoint();
  }

  private async runCheckpoint(): Promise<void> {
    // A write-back running finishes first (its pages are then in the files this checkpoint
    // fsyncs); none starts while the checkpoint runs (backgroundWriteBack).
    while (this.wbRunning !== undefined) await this.wbRunning;
    const log = this.log;
    const redo = log.end; // PLANT(ckpt-late-redo): let redo = log.end;
    this.env.pager.epoch++;
    this.logAtLastCkpt = log.stats.bytes;
    this.logNeedsLog(redo);
    // Every data file's meta page is written after its other pages: a copy that reads a meta
    // page with this redo point reads the file's other pages as this checkpoint wrote them or later.
    const dirty = this.env.pager.collectDirty().sort((a, b) => (a.pgno === 0 ? 1 : 0) - (b.pgno === 0 ? 1 : 0));
    // Written across awaits and compared by markClean: none of its buffers may be recycled meanwhile (a
    // failure panics the environment, whose pager is then never used again: no finally needed).
    const letGo = this.env.pager.hold(dirty);
    // Through the internal transaction's commit: the meta pages it changed are among the dirty (I1).
    await log.flush(log.end);
    await this.writeDirty(dirty); // PLANT(ckpt-skip-dirty): await this.writeDirty(dirty.slice(0, -1));
    // Every data file written since its last fsync: by this checkpoint, or by write-backs since the
    // last one (their pages are clean now, and the checkpoint record says they need no log before
    // the redo point).
    for (const f of [...this.env.pager.unsynced]) {
      this.env.pager.unsynced.delete(f);
      if (f.removed || !this.env.pager.files.has(f.uid)) continue;
      const h = this.env.pager.handleOf(f, false); // a rename closed the handle: fsync the file under its new name
      if (h !== undefined) await h.syncAsync();
    }
    for (const d of dirty) this.env.pager.markClean(d.file, d.pgno, d.buf);
    letGo();
    // The data files changed: so does the map of the LSNs their pages carry (before the control
    // file names it: a crash between leaves the control file 'open', and recovery rebuilds it).
    const pageMapTag = redo;
    writePageMap(this.env.vfs, this.env.home, this.env.pager.lsns, this.env.envId, pageMapTag);
    // PLANT(ckpt-late-redo): redo = log.end;
    const files = [...this.env.pager.files.values()].filter((f) => !f.removed).map((f) => `${f.uid} ${f.name}`).join('\n');
    const ckp = log.append({ type: 'checkpoint', redo, prev: this.lastCkpt, time: Date.now(), durable: log.durableLsn, files });
    await log.flush();
    this.lastCkpt = ckp;
    this.lastCkptTime = Date.now();
    this.ckptCount++;
    this.env.control = { ...this.env.control, redo, checkpoint: ckp, nextTxn: this.env.pipeline.nextTxn, lastCommit: this.env.pipeline.lastCommit, pageMap: pageMapTag };
    writeControl(this.env.vfs, this.env.home, this.env.control);
    if (this.env.autoRemove) this.env.archival.removeLogs(this.env.archival.removableLogs());
  }

  /**
   * Writes pages whose LSNs the log is durable through (I1), in file and page order: runs of
   * adjacent pages of one file in one write (Pager.writePages), up to CHECKPOINT_RUN pages, with an
   * event-loop turn after every 256 pages or so. Pages of files removed meanwhile are skipped.
   */
  private async writeDirty(pages: ReadonlyArray<{ file: DataFile; pgno: number; buf: Buffer }>): Promise<void> {
    let n = 0;
    let run: Buffer[] = [];
    let runFile: DataFile | undefined;
    let runStart = 0;
    const writeRun = async (): Promise<void> => {
      if (run.length === 0) return;
      // Checked here, after the previous run's turn: a commit may have removed the file meanwhile,
      // or close() ended (its last checkpoint fsynced what was written; nothing may follow it).
      if (!this.env.closed && !runFile!.removed && this.env.pager.files.has(runFile!.uid)) this.env.pager.writePages(runFile!, runStart, run);
      const before = n;
      n += run.length;
      run = [];
      if (Math.floor(n / 256) !== Math.floor(before / 256)) await new Promise((r) => setImmediate(r));
    };
    for (const d of pages) {
      if (run.length > 0 && (d.file !== runFile || d.pgno !== runStart + run.length || run.length >= CHECKPOINT_RUN)) await writeRun();
      if (run.length === 0) {
        runFile = d.file;
        runStart = d.pgno;
      }
      run.push(d.buf);
    }
    await writeRun();
  }

  /**
   * Starts a write-back unless one or a checkpoint runs. Dirty committed pages can leave the cache
   * only once written; a checkpoint writes them too, but each checkpoint makes the next change of
   * every page a full image (I4), so under a load that keeps the cache full of dirty pages,
   * checkpoints as often as memory asks would double the log. A write-back writes pages without
   * a redo point, an epoch or a record of its own.
   */
  backgroundWriteBack(): void {
    if (this.wbRunning !== undefined || this.ckptRunning !== undefined || this.env.closed || this.env.panicError || this.env.readOnly) return;
    const run = this.runWriteBack().catch((e: Error) => this.env.panic(e));
    this.wbRunning = run.finally(() => {
      this.wbRunning = undefined;
    });
    void this.env.track(this.wbRunning);
  }

  /**
   * Writes the dirty pages changed longest ago (never a meta page: Pager.collectWriteBack) until a
   * quarter of the cache is dirty: the log made durable through the newest of them first, with one
   * flush for the batch (I1), then the pages written and marked clean unless a commit installed a
   * newer version meanwhile (buffers are immutable: Pager.markClean compares them). Their files
   * are fsynced by the next checkpoint, before its record claims them (Pager.unsynced). A crash
   * can tear a page written here: every dirty page changed after the last completed checkpoint's
   * redo point, so its first change after it was logged as a full image, and recovery, starting
   * there, rebuilds it (I4); a page written here and changed again gets deltas against the version
   * written, which recovery rebuilds the same way.
   */
  private async runWriteBack(): Promise<void> {
    const pager = this.env.pager;
    const keep = Math.floor(pager.cacheSize / this.env.pageSize / 4);
    const pages = pager.collectWriteBack(pager.dirtyPages - keep);
    if (pages.length === 0) return;
    const letGo = pager.hold(pages); // as a checkpoint's list (runCheckpoint)
    let newest = 0;
    for (const d of pages) if (d.lsn > newest) newest = d.lsn;
    await this.log.flush(newest); // PLANT(wb-skip-log-flush):
    if (this.env.closed) return letGo();
    await this.writeDirty(pages);
    for (const d of pages) pager.markClean(d.file, d.pgno, d.buf);
    letGo();
    pager.stats.writeBacks++;
    pager.stats.pagesWrittenBack += pages.length;
  }

  /**
   * Back-pressure: a commit that left more dirty pages than the whole cache budget waits until a
   * write-back (or the checkpoint running, which waits for none) brought them back under it. A
   * few rounds at most: pages a commit changes again while they are written stay dirty.
   */
  private async relieve(): Promise<void> {
    const over = (): boolean => this.env.pager.dirtyPages * this.env.pageSize > this.env.pager.cacheSize;
    for (let i = 0; i < 4 && over() && !this.env.closed && this.env.panicError === undefined; i++) {
      if (this.ckptRunning !== undefined) await this.ckptRunning.then(noop, noop);
      else {
        this.backgroundWriteBack();
        if (this.wbRunning === undefined) return;
        await this.wbRunning;
      }
    }
  }

  /**
   * The checkpoint's internal transaction (id INTERNAL_TXN): sets needsLog to the redo point in
   * the meta page of every data file of the environment, open or not, as a logged change (a torn
   * write of the meta page is then rebuilt from the log like any page: never an unlogged write).
   * A copy of a data file then carries the log it needs, and catastrophic recovery refuses a copy
   * without it (docs/BACKUP.md §No silent failover loss). Synchronous: no commit interleaves, so
   * it never rebases; it is not noted for CONFLICT checks (no user transaction reads needsLog: a
   * concurrent one that changed a meta page rebases onto it), nor counted as a commit.
   */
  private logNeedsLog(redo: Lsn): void {
    const files = this.checkpointFiles();
    const txn = new Transaction(this.env.pager, this.env, {});
    try {
      for (const file of files) {
        let meta: Buffer;
        try {
          meta = this.env.pager.read(file, 0, Infinity);
        } catch (e) {
          // A damaged or stale meta page (or one that cannot be read) is reported to whoever reads
          // the file, not by failing the checkpoint; its needsLog stays as it was (older: stricter),
          // and recovery trusts nothing in a damaged one.
          if (e instanceof CorruptionError || e instanceof IoError) continue;
          throw e;
        }
        // Recovery compares log file numbers only: a needsLog in the redo point's log file already
        // says what this one would (and earlier in it is stricter). Files are not rewritten at each
        // checkpoint, only when the log moved to another file.
        const had = readLsn(meta, MetaOffset.needsLog);
        if (had !== 0 && lsnFile(had) === lsnFile(redo)) continue;
        writeLsn(txn.writer(file).writable(0), MetaOffset.needsLog, redo);
      }
      if (!txn.hasChanges) return;
      const installs = this.env.pipeline.logTxn(txn, INTERNAL_TXN);
      const seq = ++this.env.pager.seq;
      this.env.pipeline.install(installs, seq);
    } finally {
      txn.release();
    }
  }

  /** The data files a checkpoint records its redo point in: those open, and those in the data directories not opened yet (unless damaged or foreign: nothing is written to those). */
  private checkpointFiles(): DataFile[] {
    const paths = new Set<string>();
    for (const f of this.env.pager.files.values()) paths.add(f.path);
    for (const d of this.env.dirs.dataDirs.length > 0 ? this.env.dirs.dataDirs : [this.env.home]) {
      for (const n of this.env.vfs.readdir(d)) {
        const p = path.join(d, n);
        if (!isDataFileName(n) || paths.has(p) || this.env.resolveDataFile(n) !== p || this.env.vfs.stat(p)?.isDirectory !== false) continue;
        try {
          this.env.catalog.findFile(n);
        } catch (e) {
          if (!(e instanceof CairnError)) throw e;
        }
      }
    }
    return [...this.env.pager.files.values()].filter((f) => !f.removed);
  }
}
