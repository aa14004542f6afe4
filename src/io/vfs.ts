// The one I/O seam (docs/DESIGN.md §Layers). Every byte cairn reads or writes goes through a Vfs:
// NodeVfs for real files, SimVfs for crash, fault and interleaving tests.
//
// Reads and writes are synchronous (reads serve synchronous db.get); the commit path's
// fdatasync, and writes that prepare a file ahead of its use, also have an async form so that
// the event loop keeps running while the disk works.
// Every failure is thrown as an IoError carrying the errno code (ENOSPC, EIO, ENOENT, ...).

export interface FileHandle {
  readonly path: string;
  /** Reads up to buf.length bytes at position; returns the count (short at end of file). */
  read(buf: Uint8Array, position: number): number;
  /** Writes all of buf at position (extending the file as needed). */
  write(buf: Uint8Array, position: number): void;
  /**
   * The same as write(), in the thread pool (the log's next file is zero-filled this way, off the
   * event loop). buf must not change until the promise settles; the handle must stay open.
   * Optional: a wrapper without it (tests that record or hook writes) gets write() instead.
   */
  writeAsync?(buf: Uint8Array, position: number): Promise<void>;
  size(): number;
  truncate(length: number): void;
  /** fdatasync: the file's bytes written so far become durable. Throws IoError on failure. */
  sync(): void;
  /** The same as sync(), without blocking the event loop. */
  syncAsync(): Promise<void>;
  close(): void;
}

export interface OpenOptions {
  /** Create the file if missing. */
  create?: boolean;
  /** With create: fail with EEXIST if the file exists. */
  exclusive?: boolean;
  readOnly?: boolean;
}

export interface Stat {
  size: number;
  isDirectory: boolean;
  mtimeMs: number;
}

export interface Vfs {
  open(path: string, options?: OpenOptions): FileHandle;
  /** undefined when the path does not exist. */
  stat(path: string): Stat | undefined;
  /** Names (not paths) in a directory, sorted. */
  readdir(dir: string): string[];
  mkdir(dir: string, options?: { recursive?: boolean; mode?: number }): void;
  /** Atomic replace of `to` (POSIX rename). Durable only after syncDir of both parents. */
  rename(from: string, to: string): void;
  unlink(path: string): void;
  rmdir(dir: string): void;
  /** fsync a directory so that entries created, renamed or removed in it are durable. */
  syncDir(dir: string): void;
  /** Whole-file helpers for small files (control files, DB_CONFIG, lock files). */
  readFile(path: string): Buffer;
  /** Writes a whole file (create or replace, not atomic, not synced). */
  writeFile(path: string, data: Uint8Array, options?: { mode?: number }): void;
}
