// The commit path (docs/DESIGN.md §Transactions): a transaction's records logged (contiguous,
// synchronously), its pages installed for new readers, then made as durable as its durability
// asks (group commit), the data files it creates written (after the log is durable through them:
// I1), and the conflict window that refuses a transaction whose reads a later commit changed.
// The environment is its host (CommitHost) and does the rest: file operations on disk,
// checkpoint triggers and back-pressure.

import * as path from 'node:path';
import { diffRanges, rangesOf } from '../page/ranges.js';
import type { Vfs } from '../io/vfs.js';
import { PAGE_DELTA_FIXED, commitBody, pageDeltaBody, pageImageBody } from '../log/records.js';
import type { LogWriter } from '../log/writer.js';
import { PageOffset } from '../page/format.js';
import { type DataFile, type Pager, diffInto } from '../page/pager.js';
import { CairnError, RunRecoveryError, invalid } from '../util/errors.js';
import { type Lsn, readLsn, writeLsn } from '../util/lsn.js';
import { checks } from '../util/checks.js';
import { DURABILITIES, type Durability, type Transaction } from './txn.js';

/** A page a commit installs: its new buffer, logged whole (image) or as a delta. */
export interface PageInstall {
  file: DataFile;
  pgno: number;
  buf: Buffer;
  image: boolean;
}

/** The pages of the files a commit creates, held (Pager.hold) until createFiles has written them. */
type CreatedFiles = { pages: Array<{ file: DataFile; pgno: number; buf: Buffer }>; letGo: () => void };

/** What the commit path needs from the environment (Environment is it). */
export interface CommitHost {
  readonly pager: Pager;
  readonly vfs: Vfs;
  /** The default commit durability. */
  readonly durability: Durability;
  /** The log writer (throws READ_ONLY in a read-only environment). */
  readonly log: LogWriter;
  /** The transactions open now. */
  readonly active: Iterable<Transaction>;
  readonly counters: { commits: number };
  readonly panicError: Error | undefined;
  /** Throws when the environment is closed or panicked. */
  checkUsable(): void;
  endTxn(txn: Transaction): void;
  /** Enters the panic state (I8). */
  panic(e: Error): void;
  /** Keeps a promise that close() waits for. */
  track<T>(p: Promise<T>): Promise<T>;
  /** Carries out a committed file removal or rename on disk (after the commit is durable). */
  applyFileOp(op: Transaction['fileOps'][number]): void;
  /** CAIRN_CHECKS=strict: verifies every tree in these data files at the latest state; an AssertionError when one does not. */
  verifyFiles(files: Iterable<DataFile>): void;
  /** A commit is as durable as `mode` asks: checkpoint triggers, back-pressure. */
  committed(mode: Durability): Promise<void> | undefined;
}

export class CommitPipeline {
  /** The next transaction id. */
  nextTxn: number;
  /** The time of the last commit. */
  lastCommit: number | undefined;
  private scratch = Buffer.alloc(0);
  /** The time in the commit record logTxn appended last. */
  private loggedTime = 0;
  /** Files changed by recent commits, kept while an older write transaction may still commit. */
  private recent: Array<{ seq: number; files: DataFile[] }> = [];

  constructor(
    private readonly host: CommitHost,
    nextTxn: number,
  ) {
    this.nextTxn = nextTxn;
  }

  /**
   * The commit path: log the changes, install them, then make them durable. Runs
   * synchronously up to the install; returns a promise only when the commit must wait (group
   * commit, a file operation after the flush, a checkpoint's turn), else undefined. Throws
   * (synchronously) when the commit fails before its install.
   */
  commitTxn(txn: Transaction, durability: Durability | undefined): Promise<void> | undefined {
    this.host.checkUsable();
    if (durability !== undefined && !DURABILITIES.includes(durability)) throw invalid(`durability must be one of ${DURABILITIES.join(', ')}`);
    if (txn.readOnly || (txn.ops.length === 0 && !txn.hasChanges)) {
      txn.state = 'committed';
      return undefined;
    }
    if (txn.seq !== this.host.pager.seq) {
      // Only a transaction that read can conflict (blind writes rebase instead).
      if (txn.readFiles.size > 0) {
        for (const c of this.recent) {
          if (c.seq <= txn.seq) continue;
          for (const f of c.files) {
            if (txn.readFiles.has(f)) {
              txn.state = 'aborted';
              throw new CairnError('CONFLICT', `the transaction read ${f.name}, which another transaction changed after it began; run it again (env.transaction() does so itself)`);
            }
          }
        }
      }
      // Blind writes whose pages (changed or only read) nobody else changed meanwhile install as they are.
      if (txn.readFiles.size > 0 || !txn.pagesStillCurrent()) txn.rebase();
    }
    // Writes that changed nothing (a delete that found no key) commit as nothing — after the
    // rebase above, since on the latest state they may change something.
    if (!txn.hasChanges) {
      txn.state = 'committed';
      return undefined;
    }
    const id = this.nextTxn;
    this.nextTxn = this.nextTxn >= 0xffff_fff0 ? 1 : this.nextTxn + 1;
    const log = this.host.log;
    const installs = this.logTxn(txn, id);
    const end = log.end;
    this.lastCommit = this.loggedTime;
    // Install: from here the changes are visible to new readers.
    const seq = ++this.host.pager.seq;
    this.noteCommit(seq, txn);
    txn.state = 'committed';
    this.host.counters.commits++;
    // The transaction's own snapshot goes before the install: nothing reads through it any more
    // (its pages are in `installs`), so the versions it replaces are kept only for other snapshots.
    this.host.endTxn(txn);
    for (const f of txn.newFiles) this.host.pager.addFile(f);
    this.install(installs, seq);
    const fileOps = txn.fileOps;
    for (const op of fileOps) {
      if (op.kind === 'remove') op.file.removed = true;
    }
    const created = txn.newFiles.length > 0 ? this.createdPages(txn.newFiles, installs) : undefined;
    let mode = durability ?? txn.durability ?? this.host.durability;
    if (fileOps.length > 0 || created !== undefined) mode = 'sync';
    if (mode === 'sync') {
      // A lone committer's log is made durable right here (flushNow); otherwise it joins a group.
      if (!log.flushNow(end)) return this.host.track(log.flush(end)).then(() => this.afterCommit(fileOps, mode, created));
    } else if (mode === 'write-nosync') log.write();
    return this.afterCommit(fileOps, mode, created);
  }

  /** The pages of the files a commit creates, held (Pager.hold) until createFiles has written them. */
  private createdPages(files: DataFile[], installs: PageInstall[]): CreatedFiles {
    const pages: Array<{ file: DataFile; pgno: number; buf: Buffer }> = [];
    for (const { file, pgno, buf } of installs) {
      if (files.includes(file)) pages.push({ file, pgno, buf });
    }
    // Meta pages last, as a checkpoint writes them (§Checkpoints: a copy that finds a meta page finds the file's other pages).
    pages.sort((a, b) => (a.pgno === 0 ? 1 : 0) - (b.pgno === 0 ? 1 : 0));
    return { pages, letGo: this.host.pager.hold(pages) };
  }

  /**
   * Data files exist on disk from the commit that creates them (after the log is durable through
   * it: I1), so that db_archive -s, db_stat and a copy of the data files see them: each is created
   * (exclusively, never through a symbolic link), its pages as this commit made them are written,
   * then the file and its directory are fsynced. Recovery redoes a file_create whose file is
   * missing, empty, short or complete alike. A failure panics the environment (I8).
   */
  private createFiles(created: CreatedFiles): void {
    try {
      const files = new Set(created.pages.map((d) => d.file));
      for (const file of files) {
        if (file.removed || !this.host.pager.files.has(file.uid) || file.handle !== undefined) continue;
        file.handle = this.host.vfs.open(file.path, { create: true, exclusive: true, noFollow: true });
        for (const d of created.pages) if (d.file === file) this.host.pager.writePage(file, d.pgno, d.buf);
        file.handle.sync();
        this.host.pager.unsynced.delete(file);
        this.host.vfs.syncDir(path.dirname(file.path));
        for (const d of created.pages) if (d.file === file) this.host.pager.markClean(file, d.pgno, d.buf);
      }
    } catch (e) {
      this.host.panic(e as Error);
      throw new RunRecoveryError(`creating a data file failed: ${(e as Error).message}`, { cause: e });
    } finally {
      created.letGo();
    }
  }

  /** commitTxn's end, once the commit is as durable as `mode` asks: file operations, checkpoint triggers. */
  private afterCommit(fileOps: Transaction['fileOps'], mode: Durability, created?: CreatedFiles): Promise<void> | undefined {
    if (created !== undefined) this.createFiles(created);
    for (const op of fileOps) this.host.applyFileOp(op);
    return this.host.committed(mode);
  }

  /**
   * Logs a transaction's records and its commit (synchronously: a transaction's records are
   * contiguous) and returns the pages to install.
   * Its commit record's time is left in loggedTime. A failure panics.
   */
  logTxn(txn: Transaction, id: number): PageInstall[] {
    const log = this.host.log;
    const installs: PageInstall[] = [];
    try {
      for (const f of txn.newFiles) log.append({ type: 'file_create', txn: id, file: f.uid, name: f.name, pageSize: f.pageSize });
      for (const fp of txn.files.values()) {
        const changed = fp.changed;
        if (changed.size === 0) continue;
        const file = fp.file;
        // Pages in ascending order (one page, the common case, needs no sort).
        const pgnos = changed.size === 1 ? changed.keys() : [...changed.keys()].sort((a, b) => a - b);
        for (const pgno of pgnos) {
          const buf = changed.get(pgno)!;
          const base = fp.created.has(pgno) ? undefined : this.host.pager.read(file, pgno, Infinity);
          const image = base === undefined || this.host.pager.needsImage(file, pgno);
          // Bodies are encoded into one reused scratch buffer (the log copies them at append).
          const scratch = this.recordScratch(buf.length);
          let lsn: Lsn;
          if (image) {
            // An image needs no delta: only whether the page changed at all (past checksum and LSN).
            if (base !== undefined && base.compare(buf, PageOffset.pgno, buf.length, PageOffset.pgno, base.length) === 0) continue;
            buf.fill(0, 0, 12);
            lsn = log.appendBody(pageImageBody(scratch, id, file.uid, pgno, buf));
          } else {
            // The B-tree's changed ranges when it reported them (src/btree/ranges.ts), else the whole page.
            const ranges = rangesOf(fp, pgno, buf);
            const n = ranges === undefined ? diffInto(base!, buf, scratch, PAGE_DELTA_FIXED) : diffRanges(base!, ranges, scratch, PAGE_DELTA_FIXED);
            if (n === 0) continue;
            buf.fill(0, 0, 12);
            lsn = log.appendBody(pageDeltaBody(scratch, id, file.uid, pgno, readLsn(base!, 4), n));
          }
          writeLsn(buf, 4, lsn);
          installs.push({ file, pgno, buf, image });
        }
      }
      for (const op of txn.fileOps) {
        if (op.kind === 'remove') log.append({ type: 'file_remove', txn: id, file: op.file.uid, name: op.file.name });
        else log.append({ type: 'file_rename', txn: id, file: op.file.uid, name: op.file.name, newName: op.newName! });
      }
      const time = Date.now();
      log.appendBody(commitBody(this.recordScratch(0), id, time, log.durableLsn));
      this.loggedTime = time;
      return installs;
    } catch (e) {
      this.host.panic(e as Error);
      throw this.host.panicError === e ? new RunRecoveryError(`commit failed: ${(e as Error).message}`, { cause: e }) : e;
    }
  }

  /** logTxn's buffer for encoding page records: room for a delta of a page of `pageSize` bytes (the larger kind). */
  private recordScratch(pageSize: number): Buffer {
    const need = PAGE_DELTA_FIXED + 2 * pageSize + 16;
    if (this.scratch.length < need) this.scratch = Buffer.allocUnsafeSlow(need);
    return this.scratch;
  }

  private noteCommit(seq: number, txn: Transaction): void {
    let oldest = Infinity;
    for (const t of this.host.active) if (t !== txn && !t.readOnly && t.seq < oldest) oldest = t.seq;
    if (oldest === Infinity) {
      this.recent.length = 0;
      return;
    }
    let drop = 0;
    while (drop < this.recent.length && this.recent[drop]!.seq <= oldest) drop++;
    if (drop > 0) this.recent.splice(0, drop);
    this.recent.push({ seq, files: [...txn.files.keys(), ...txn.fileOps.map((o) => o.file)] });
  }

  /** Installs a commit's pages as sequence `seq`: from here new readers see them. */
  install(installs: PageInstall[], seq: number): void {
    for (const p of installs) this.host.pager.install(p.file, p.pgno, p.buf, seq, p.image);
    // CAIRN_CHECKS=strict: every tree of every file the commit changed verifies (a bug otherwise).
    if (checks.strict && installs.length > 0) this.host.verifyFiles(new Set(installs.map((p) => p.file)));
  }
}
