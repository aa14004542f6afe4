// Appending to the log, with group commit (docs/DESIGN.md §Group commit).
//
// append() encodes a record into the in-memory buffer and returns its LSN; nothing touches the
// disk. write() hands buffered bytes to the OS (enough for 'write-nosync'). flush(lsn) makes
// the log durable through lsn: one flusher loop does one write and one fdatasync per batch, so
// every commit that arrives while a sync is in flight shares the next one (group commit).
// flushNow(lsn) is the lone committer's short path: durable before it returns, in this thread.
//
// Any failed write or fsync is fatal (I8): the writer fails every waiter and every later call
// with RunRecoveryError and never retries — after a failed fsync the kernel may have dropped
// the dirty pages, so a retry that "succeeds" proves nothing.
//
// Log files are preallocated with zeros (docs/DESIGN.md §Log). Once the first file is half full,
// and after every switch, the next file is prepared while the current one fills: created as NEXT_LOG_FILE, zero-filled and
// fdatasynced in the background (Vfs.prepare: another thread). A switch that finds it ready
// writes its header and, when the Vfs can (Vfs.background), appends go into it at once while
// another thread runs, in this order: fdatasync of the finished file, fdatasync of the new one
// (its header), rename to its log file name, directory fsync. So a log file name only ever appears
// with a durable header, after every record of the file before it is durable (the reader's rules:
// a later file's prevEnd proves the earlier file's records durable, I6), as with makeFile; until
// the rename the file has no log file name and recovery, archival and backups never look at it.
// Nothing in the new file counts as durable (durableLsn, flush) before that work has ended, and
// bytes go to the new file only once it has its name (write() waits for the work: a
// 'write-nosync' commit must survive kill -9, which a file without a log name would not);
// meanwhile appends fill a larger buffer (SWITCH_BUFFER_PART of a file), so a load need not wait.
// Without Vfs.background the switch does the same in this thread.

import * as path from 'node:path';
import type { Background, BackgroundStep, FileHandle, Preparation, Vfs } from '../io/vfs.js';
import { assert } from '../util/assert.js';
import { RunRecoveryError } from '../util/errors.js';
import { type Lsn, lsnFile, lsnOffset, makeLsn } from '../util/lsn.js';
import { LOG_HEADER_SIZE, MAX_RECORD_BODY, NO_HISTORY, RECORD_HEADER_SIZE, decodeLogHeader, encodeLogHeader, logFileName, recordChecksum } from './file.js';
import { type LogRecord, encodeRecord } from './records.js';

export interface LogWriterOptions {
  envId: Buffer;
  fileSize: number;
  bufferSize: number;
  /** The history the log's files belong to (docs/FORMAT.md §Log files); resume reads it from the file. */
  history?: Buffer;
  /** The history that one forked from. */
  parent?: Buffer;
}

interface Waiter {
  lsn: Lsn;
  resolve: () => void;
  reject: (e: Error) => void;
}

const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

/**
 * The log buffer while a switch runs in the background, as a share of the file size: what a load
 * appends during the finished file's fdatasync (10 MiB: ~20–40 ms) without waiting for it.
 */
const SWITCH_BUFFER_PART = 0.5;

/** A file switch running in the background (Vfs.background). */
interface Job {
  work: Background;
  /** Once the work is done the log is durable up to here. */
  durable: Lsn;
  /** fdatasyncs in the work (stats). */
  syncs: number;
  /** The finished file, and the next one's handle under its temporary name. */
  switch: { old: FileHandle; next: FileHandle; name: string };
}

/** The next log file while it is prepared (not a log file's name: see the header comment). */
export const NEXT_LOG_FILE = '__cairn.log-next';


/**
 * Synchronous flushes (flushNow) allowed in a row without the event loop running a turn: a
 * committer awaiting its commits in a loop would otherwise never let timers, I/O and the
 * channel run. After that many the flush goes through the flusher, which lets a turn pass.
 */
const TURNLESS_FLUSHES = 16;

export class LogWriter {
  readonly dir: string;
  private readonly vfs: Vfs;
  private readonly opts: LogWriterOptions;
  private handle: FileHandle;
  private fileNo: number;
  /** Offset in the current file where the next record goes. */
  private offset: number;
  /** Buffered bytes not yet written, starting at file offset bufStart. */
  private buf: Buffer;
  /**
   * While a switch runs in the background: the usual buffer, set aside for a larger one
   * (`switchBuf`, kept for the next switch) so that appends need not write() — which waits for
   * the switch — before it ends.
   */
  private usualBuf: Buffer | undefined;
  private switchBuf: Buffer | undefined;
  private bufLen = 0;
  private bufStart: number;
  private durable: Lsn;
  private waiters: Waiter[] = [];
  private flushing = false;
  private retired: FileHandle[] = [];
  private failure: Error | undefined;
  /** The next log file, being prepared or ready (undefined: none, or given up at close). */
  private next: Preparation | undefined;
  private closed = false;
  /**
   * flushNow()s since the event loop last ran a turn (bounded by TURNLESS_FLUSHES). It starts at
   * the bound: until the event loop has run a turn since the writer was made, flushes go through
   * the flusher, so callbacks set up while the environment opened (the channel's socket) run
   * before a commit can block this thread.
   */
  private turnless = TURNLESS_FLUSHES;
  private turnWatch = false;
  /**
   * Whether flushNow may make the log durable synchronously, blocking this thread (the
   * environment says so when no other write transaction is open, so no commit could join the
   * group meanwhile). Default: never.
   */
  mayBlock: () => boolean = () => false;
  /** Called once when the writer fails (I8), so the environment can panic. */
  onPanic: ((err: Error) => void) | undefined;
  /** File switches in flight (at most one: a switch waits for the one before), oldest first. */
  private jobs: Job[] = [];
  /**
   * Counters for env.stat(); switchMs: main-thread time in file switches (switchFile), not
   * counting waitMs: time blocked waiting for a switch in the background to end.
   */
  readonly stats = { records: 0, bytes: 0, syncs: 0, writes: 0, files: 0, switchMs: 0, waitMs: 0 };
  /** File switches that found the next file prepared (the others made it in this thread). */
  preparedSwitches = 0;

  private constructor(vfs: Vfs, dir: string, opts: LogWriterOptions, handle: FileHandle, fileNo: number, offset: number) {
    this.vfs = vfs;
    this.dir = dir;
    this.opts = { ...opts };
    this.handle = handle;
    this.fileNo = fileNo;
    this.offset = offset;
    this.bufStart = offset;
    this.buf = Buffer.allocUnsafe(Math.max(opts.bufferSize, 64 * 1024));
    this.durable = makeLsn(fileNo, offset);
    this.watchTurn();
  }

  /** Resets `turnless` when the event loop next runs a turn. */
  private watchTurn(): void {
    if (this.turnWatch) return;
    this.turnWatch = true;
    setImmediate(() => {
      this.turnWatch = false;
      this.turnless = 0;
    }).unref();
  }

  /** Starts a new log in an empty directory, at file 1 (or `firstFile`). */
  static create(vfs: Vfs, dir: string, opts: LogWriterOptions, firstFile = 1, prevEnd = 0): LogWriter {
    const handle = LogWriter.makeFile(vfs, dir, opts, firstFile, prevEnd);
    return new LogWriter(vfs, dir, opts, handle, firstFile, LOG_HEADER_SIZE);
  }

  /**
   * Continues an existing log whose end (found by LogReader) is `end`. Bytes after the end are a
   * torn tail: they are zeroed and synced first, so that no stale record there can ever be read
   * as part of the log again.
   */
  static resume(vfs: Vfs, dir: string, opts: LogWriterOptions, end: Lsn): LogWriter {
    const fileNo = lsnFile(end);
    const offset = lsnOffset(end);
    const handle = vfs.open(path.join(dir, logFileName(fileNo)));
    const head = Buffer.alloc(LOG_HEADER_SIZE);
    handle.read(head, 0);
    const header = decodeLogHeader(head);
    // The file's history continues (an explicit one in opts wins, for tests).
    opts = { ...opts, history: opts.history ?? header?.history, parent: opts.history !== undefined ? opts.parent : header?.parent };
    let size = handle.size();
    // Bytes past the file's size are no record's (the writer switches files before it): a file
    // extended beyond it (damage, or a crafted file) is cut back instead of zero-filled, so a
    // sparse 2 GiB tail costs no 2 GiB of writes (F10).
    const keep = Math.max(offset, opts.fileSize);
    if (size > keep) {
      handle.truncate(keep);
      handle.sync();
      size = keep;
    }
    let dirty = false;
    const probe = Buffer.allocUnsafe(ZERO_CHUNK.length);
    for (let at = offset; at < size; at += probe.length) {
      const n = handle.read(probe, at);
      if (!probe.subarray(0, n).equals(ZERO_CHUNK.subarray(0, n))) {
        dirty = true;
        break;
      }
    }
    if (dirty) {
      for (let at = offset; at < size; at += ZERO_CHUNK.length) {
        handle.write(ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, size - at)), at);
      }
      handle.sync();
    }
    return new LogWriter(vfs, dir, opts, handle, fileNo, offset);
  }

  /** Makes log file fileNo, preallocated with zeros, durable with its directory entry. */
  private static makeFile(vfs: Vfs, dir: string, opts: LogWriterOptions, fileNo: number, prevEnd: number): FileHandle {
    const handle = vfs.open(path.join(dir, logFileName(fileNo)), { create: true });
    for (let at = 0; at < opts.fileSize; at += ZERO_CHUNK.length) {
      handle.write(ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, opts.fileSize - at)), at);
    }
    handle.write(encodeLogHeader({ fileNo, fileSize: opts.fileSize, envId: opts.envId, prevEnd, history: opts.history, parent: opts.parent }), 0);
    handle.sync();
    // PLANT(log-skip-dir-fsync): return handle;
    vfs.syncDir(dir);
    return handle;
  }

  /** LSN where the next record will be appended. */
  get end(): Lsn {
    return makeLsn(this.fileNo, this.offset);
  }

  /** The log is durable (fsync'd) up to here. */
  get durableLsn(): Lsn {
    return this.durable;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  get currentFile(): number {
    return this.fileNo;
  }

  /** The history of the current log file (zero when unknown). */
  get history(): Buffer {
    return this.opts.history ?? NO_HISTORY;
  }

  /**
   * Starts a new history (a copy becoming a primary after catastrophic recovery): the current
   * file is finished and the next one, made at once, carries `history` with the current history
   * as its parent. A log of the old history is then told apart from this one (docs/BACKUP.md).
   */
  fork(history: Buffer): void {
    this.check();
    this.opts.parent = this.opts.history ?? NO_HISTORY;
    this.opts.history = history;
    this.switchFile();
    // The caller writes the control file with the new history next: the new file must be named.
    this.settle(true);
  }

  private check(): void {
    if (this.failure) throw new RunRecoveryError(`the log failed earlier (${this.failure.message}); close the environment and reopen it to run recovery`, { cause: this.failure });
  }

  /** Appends a record to the buffer; returns its LSN. */
  append(rec: LogRecord): Lsn {
    return this.appendBody(encodeRecord(rec));
  }

  /**
   * Appends a record whose body is already encoded (records.ts's encoders; the commit path writes
   * bodies into a reused buffer): the body is copied into the log buffer. Returns its LSN.
   */
  appendBody(body: Buffer): Lsn {
    this.check();
    const size = RECORD_HEADER_SIZE + body.length;
    assert(size <= this.opts.fileSize - LOG_HEADER_SIZE, `log record of ${size} bytes exceeds the log file size`);
    assert(body.length <= MAX_RECORD_BODY, `log record of ${size} bytes exceeds the largest record the log reader accepts`);
    if (this.offset + size > this.opts.fileSize) this.switchFile();
    if (this.bufLen + size > this.buf.length) {
      if (this.bufLen > 0) this.write();
      if (size > this.buf.length) this.buf = Buffer.allocUnsafe(size);
    }
    const at = this.bufLen;
    const buf = this.buf;
    buf.writeUInt32LE(body.length, at);
    buf.writeUInt32LE(recordChecksum(this.fileNo, this.offset, body), at + 4);
    buf.set(body, at + RECORD_HEADER_SIZE);
    this.bufLen += size;
    const lsn = makeLsn(this.fileNo, this.offset);
    this.offset += size;
    this.stats.records++;
    this.stats.bytes += size;
    return lsn;
  }

  /**
   * Writes buffered records to the OS (survives a process crash, not a power loss). A file
   * switch still in flight is waited for first (blocking): its records go into a file that has
   * its log file name.
   */
  write(): void {
    this.check();
    if (this.bufLen === 0) {
      if (this.jobs.length > 0) this.settle(false);
      return;
    }
    this.settle(true);
    try {
      this.handle.write(this.buf.subarray(0, this.bufLen), this.bufStart);
    } catch (e) {
      throw this.fail(e as Error);
    }
    this.stats.writes++;
    this.bufStart += this.bufLen;
    this.bufLen = 0;
    if (this.usualBuf !== undefined && this.jobs.length === 0) {
      if (this.buf === this.switchBuf) this.buf = this.usualBuf; // else appendBody made a bigger one for a big record
      this.usualBuf = undefined;
    }
    // A log past half its first file will switch: its next file is prepared from here on.
    if (this.next === undefined && this.jobs.length === 0 && this.bufStart > this.opts.fileSize / 2) {
      try {
        this.prepareNext();
      } catch (e) {
        throw this.fail(e as Error);
      }
    }
  }

  /**
   * Takes in the background work that has ended, oldest first: the log is durable further, a
   * switched-from file is closed, the next file is reopened by its log file name and the one
   * after it prepared. With `block`, first waits (blocking this thread) for the work in flight. A
   * failed work fails the writer (I8: never retried) and throws RunRecoveryError.
   */
  private settle(block: boolean): void {
    let ended = false;
    while (this.jobs.length > 0) {
      const job = this.jobs[0]!;
      let state = job.work.state();
      if (state === false) {
        if (!block) break;
        const t0 = performance.now();
        job.work.wait();
        this.stats.waitMs += performance.now() - t0;
        state = job.work.state();
      }
      this.jobs.shift();
      if (state !== true) throw this.fail(state === false ? new Error('background log work neither ended nor failed') : state);
      this.stats.syncs += job.syncs;
      if (job.durable > this.durable) this.durable = job.durable;
      const { old, next, name } = job.switch;
      this.retired.push(old);
      assert(this.handle === next, 'a file switch ends before the next one starts');
      try {
        this.handle = this.vfs.open(name); // by its name from now on: errors about it name the log file
        next.close();
        this.prepareNext();
      } catch (e) {
        throw this.fail(e as Error);
      }
      ended = true;
    }
    if (ended) {
      if (!this.flushing) this.closeRetired();
      this.resolveWaiters();
    }
  }

  /**
   * Finishes the current file and starts the next one: in the background when the next file is
   * prepared and the Vfs can (see the header), else here (written and fsync'd, then the next).
   */
  private switchFile(): void {
    const t0 = performance.now();
    const waited = this.stats.waitMs;
    try {
      this.settle(true); // one switch at a time: log file names appear in order
      this.write();
      const prevEnd = this.offset;
      try {
        if (!this.switchInBackground(this.fileNo + 1, prevEnd)) {
          this.handle.sync();
          this.stats.syncs++;
          const next = this.takePrepared(this.fileNo + 1, prevEnd) ?? LogWriter.makeFile(this.vfs, this.dir, this.opts, this.fileNo + 1, prevEnd);
          this.retired.push(this.handle);
          if (!this.flushing) this.closeRetired();
          this.handle = next;
          this.prepareNext();
          this.durable = makeLsn(this.fileNo, this.offset);
        }
      } catch (e) {
        throw this.fail(e as Error);
      }
      this.fileNo++;
      this.offset = LOG_HEADER_SIZE;
      this.bufStart = LOG_HEADER_SIZE;
      this.stats.files++;
    } finally {
      this.stats.switchMs += performance.now() - t0 - (this.stats.waitMs - waited);
    }
  }

  /**
   * When the next file is prepared and the Vfs runs background work: writes the next file's
   * header, hands the finished file's fdatasync, the new file's fdatasync, its rename to log file
   * fileNo and the directory fsync to the background, and makes the new file current (still under
   * its temporary name: write() waits for the work before writing to it). False otherwise.
   */
  private switchInBackground(fileNo: number, prevEnd: number): boolean {
    if (this.vfs.background === undefined) return false;
    const prepared = this.openPrepared(fileNo, prevEnd);
    if (prepared === undefined) return false;
    const { handle, file, name } = prepared;
    const steps: BackgroundStep[] = [
      { op: 'sync', handle: this.handle },
      { op: 'sync', handle },
      { op: 'rename', from: file, to: name },
    ];
    steps.push({ op: 'syncDir', dir: this.dir }); // PLANT(log-skip-dir-fsync):
    this.jobs.push({ work: this.vfs.background(steps), durable: makeLsn(fileNo - 1, prevEnd), syncs: 2, switch: { old: this.handle, next: handle, name } });
    this.handle = handle;
    // The buffer is empty here (switchFile wrote it): appends fill a larger one while the switch runs.
    const size = Math.max(this.buf.length, SWITCH_BUFFER_PART * this.opts.fileSize);
    if (this.switchBuf === undefined || this.switchBuf.length < size) this.switchBuf = Buffer.allocUnsafeSlow(size);
    if (this.buf !== this.switchBuf) {
      this.usualBuf ??= this.buf;
      this.buf = this.switchBuf;
    }
    this.preparedSwitches++;
    return true;
  }

  /**
   * The prepared next file, taken and opened under its temporary name with log file fileNo's
   * header written (not yet synced), or undefined when it is not ready yet. A failed preparation
   * throws (I8, as for a write or fsync of the log).
   */
  private openPrepared(fileNo: number, prevEnd: number): { handle: FileHandle; file: string; name: string } | undefined {
    const next = this.next;
    if (next === undefined) return undefined;
    const state = next.state();
    if (state === false) return undefined;
    this.next = undefined;
    if (state instanceof Error) throw state;
    const file = path.join(this.dir, NEXT_LOG_FILE);
    const handle = this.vfs.open(file);
    try {
      handle.write(encodeLogHeader({ fileNo, fileSize: this.opts.fileSize, envId: this.opts.envId, prevEnd, history: this.opts.history, parent: this.opts.parent }), 0);
    } catch (e) {
      handle.close();
      throw e;
    }
    return { handle, file, name: path.join(this.dir, logFileName(fileNo)) };
  }

  /**
   * The prepared next file as log file fileNo, or undefined when it is not ready yet. Its zeros
   * are durable already; the header is written and synced before the rename gives it its name,
   * and the directory fsync makes the name durable, as makeFile does.
   */
  private takePrepared(fileNo: number, prevEnd: number): FileHandle | undefined {
    const prepared = this.openPrepared(fileNo, prevEnd);
    if (prepared === undefined) return undefined;
    const { handle: head, file, name } = prepared;
    try {
      head.sync();
    } finally {
      head.close();
    }
    this.vfs.rename(file, name);
    const handle = this.vfs.open(name); // by its name: errors about it name the log file
    this.preparedSwitches++;
    // PLANT(log-skip-dir-fsync): return handle;
    this.vfs.syncDir(this.dir);
    return handle;
  }

  /**
   * Starts preparing the next log file in the background, when the Vfs can (after a switch, or
   * once the first file is half full: a log that never gets there never makes one). A file of that name left by a crash or
   * by an earlier writer is removed first (one still being filled then fills a removed file).
   * A preparation that fails is fatal like any write or fsync of the log (I8).
   */
  private prepareNext(): void {
    if (this.next !== undefined || this.closed || this.failure || this.vfs.prepare === undefined) return;
    const file = path.join(this.dir, NEXT_LOG_FILE);
    if (this.vfs.stat(file) !== undefined) this.vfs.unlink(file);
    const next = this.vfs.prepare(file, this.opts.fileSize);
    this.next = next;
    next.done.catch((e: Error) => {
      if (this.next !== next) return;
      this.next = undefined;
      this.fail(e);
    });
  }

  private closeRetired(): void {
    for (const h of this.retired) h.close();
    this.retired = [];
  }

  /** Resolves when the log is durable through `lsn` (default: everything appended so far). */
  flush(lsn: Lsn = this.end): Promise<void> {
    if (this.failure) return Promise.reject(this.runRecovery());
    if (lsn > this.durable && this.jobs.length > 0) {
      try {
        this.settle(false);
      } catch {
        return Promise.reject(this.runRecovery());
      }
    }
    if (lsn <= this.durable) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ lsn, resolve, reject });
      if (!this.flushing) void this.flushLoop();
    });
  }

  /** Writes and fsyncs everything appended, blocking (used at close and on file switch paths). */
  flushSync(): void {
    this.check();
    if (this.end <= this.durable) return;
    this.syncHere();
  }

  /**
   * The lone committer's short path: when the environment allows blocking (mayBlock: no other
   * write transaction could join a group), no flush is queued or in flight, and the event loop
   * ran a turn within the last TURNLESS_FLUSHES of these, makes the log durable through `lsn`
   * right now in this thread — no promise, no event-loop turn — and returns true. Otherwise
   * returns false and the caller awaits flush(lsn). Throws RunRecoveryError when the write or
   * fsync fails (the writer has failed, I8).
   */
  flushNow(lsn: Lsn = this.end): boolean {
    if (this.failure) throw this.runRecovery();
    if (lsn > this.durable && this.jobs.length > 0) this.settle(false);
    if (lsn <= this.durable) return true;
    if (this.flushing || this.waiters.length > 0 || this.turnless >= TURNLESS_FLUSHES || !this.mayBlock()) return false;
    this.syncHere();
    this.turnless++;
    this.watchTurn();
    return true;
  }

  /**
   * Makes everything appended durable, blocking this thread: write + fdatasync. On failure the
   * writer fails (I8) and this throws RunRecoveryError.
   */
  private syncHere(): void {
    const target = this.end;
    try {
      this.settle(true); // a switch in flight first: the file before it durable, this one named
      this.write();
      this.handle.sync(); // PLANT(log-skip-fsync):
    } catch (e) {
      // PLANT(fsync-retry): if (!this.failure && (() => { try { this.handle.sync(); return true; } catch { return false; } })()) { this.durable = Math.max(this.durable, target); this.resolveWaiters(); return; }
      throw this.fail(e as Error);
    }
    this.stats.syncs++;
    if (target > this.durable) this.durable = target;
    this.resolveWaiters();
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.waiters.length > 0 && !this.failure) {
        // A file switch in flight ends first (the event loop runs meanwhile): nothing in the new
        // file is durable before the old file is and the new one has its name (and a failed
        // fdatasync of the old file is known before this flush's own acknowledges anything, I8).
        if (this.jobs.length > 0) {
          await this.jobs[this.jobs.length - 1]!.work.done.catch(() => {}); // the last: all before it end first
          try {
            this.settle(false);
          } catch {
            return; // fail() has told every waiter (I8)
          }
          continue;
        }
        // Always in the thread pool: the event loop meanwhile runs the other transactions'
        // commits (they form the next group). A lone committer does not come here (flushNow).
        const target = this.end;
        try {
          this.write();
        } catch {
          // fail() has told every waiter (I8); throwing here would reject this unawaited loop
          return;
        }
        const handle = this.handle; // after write(): the handle the bytes went to
        try {
          await handle.syncAsync(); // PLANT(log-skip-fsync):
        } catch (e) {
          // PLANT(fsync-retry): if (await handle.syncAsync().then(() => true, () => false)) { this.durable = Math.max(this.durable, target); this.resolveWaiters(); continue; }
          this.fail(e as Error);
          return;
        }
        if (this.failure) return; // the writer failed meanwhile: this sync acknowledges nothing
        this.stats.syncs++;
        // A file switch during the await synced everything before it; target may be in the new file
        // only if records were appended after `target` was read, so target is covered either way.
        if (target > this.durable) this.durable = target;
        this.resolveWaiters();
        this.closeRetired();
      }
    } finally {
      this.flushing = false;
    }
  }

  private resolveWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.lsn <= this.durable) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  private runRecovery(): RunRecoveryError {
    return new RunRecoveryError(`writing the log failed (${this.failure!.message}); every commit after the last successful fsync is in doubt: close the environment and reopen it to run recovery`, { cause: this.failure });
  }

  /** Enters the failed state (I8); returns the error to throw. */
  private fail(err: Error): Error {
    if (!this.failure) {
      this.failure = err;
      const e = this.runRecovery();
      for (const w of this.waiters) w.reject(e);
      this.waiters = [];
      this.onPanic?.(err);
    }
    return this.runRecovery();
  }

  close(): void {
    this.closed = true;
    // Background work first: its handles stay open until it ends (a switch's rename happens).
    for (const job of this.jobs) job.work.wait();
    try {
      this.settle(false);
    } catch {
      // failed (I8): the next open recovers
    }
    for (const job of this.jobs) {
      for (const h of [job.switch.old, job.switch.next]) {
        try {
          if (h !== this.handle) h.close();
        } catch {
          // nothing more to lose
        }
      }
    }
    this.jobs = [];
    const next = this.next;
    this.next = undefined;
    if (next !== undefined) {
      // Not needed any more, ready or not (a preparation still running then fails, unheard).
      try {
        this.vfs.unlink(path.join(this.dir, NEXT_LOG_FILE));
      } catch {
        // a next file left behind is harmless: it has no log file name
      }
    }
    this.closeRetired();
    try {
      this.handle.close();
    } catch {
      // closing after a failure: nothing more to lose
    }
  }
}
