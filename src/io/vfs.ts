// The one I/O seam (docs/DESIGN.md §Code map). Every byte cairn reads or writes goes through a Vfs:
// NodeVfs for real files, SimVfs for crash, fault and interleaving tests.
//
// Reads and writes are synchronous (reads serve synchronous db.get); the commit path's
// fdatasync also has an async form so that the event loop keeps running while the disk works,
// and a file can be prepared (zero-filled, synced) in the background ahead of its use.
// Every failure is thrown as an IoError carrying the errno code (ENOSPC, EIO, ENOENT, ...).

export interface FileHandle {
  readonly path: string;
  /** Reads up to buf.length bytes at position; returns the count (short at end of file). */
  read(buf: Uint8Array, position: number): number;
  /** Writes all of buf at position (extending the file as needed). */
  write(buf: Uint8Array, position: number): void;
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
  /** Fail (ELOOP) when the last component of the path is a symbolic link (O_NOFOLLOW): data files. */
  noFollow?: boolean;
}

export interface Stat {
  size: number;
  isDirectory: boolean;
  /** A regular file (not a directory, FIFO, socket or device). */
  isFile: boolean;
  mtimeMs: number;
}

/** A file being made in the background by Vfs.prepare. */
export interface Preparation {
  /**
   * Without waiting and without an event-loop turn (a loop that only awaits microtasks still
   * sees it change): true once the file is complete and durable, false while it is being made,
   * or the error that stopped it.
   */
  state(): boolean | Error;
  /**
   * Settles when the preparation ends (its callbacks need the event loop). If the background
   * thread itself is lost, it resolves while state() stays false: the file never becomes ready.
   */
  readonly done: Promise<void>;
}

/** One step of Vfs.background's work. */
export type BackgroundStep =
  | { op: 'sync'; handle: FileHandle }
  | { op: 'rename'; from: string; to: string }
  | { op: 'syncDir'; dir: string };

/** Work running in the background (Vfs.background). */
export interface Background extends Preparation {
  /**
   * Blocks this thread until the work has ended (NodeVfs: Atomics.wait on the shared state;
   * SimVfs: runs the steps not yet run, now). state() then says how it ended; never throws.
   */
  wait(): void;
}

export interface Vfs {
  open(path: string, options?: OpenOptions): FileHandle;
  /** undefined when the path does not exist. */
  stat(path: string): Stat | undefined;
  /**
   * What `path` is, not how it is named: equal for two paths of one file or directory (through
   * symlinks, bind mounts, `..`), else different (NodeVfs: st_dev and st_ino); undefined when the
   * path does not exist. Optional: without it, callers compare resolved paths.
   */
  identity?(path: string): string | undefined;
  /** Names (not paths) in a directory, sorted. */
  readdir(dir: string): string[];
  mkdir(dir: string, options?: { recursive?: boolean; mode?: number }): void;
  /** Atomic replace of `to` (POSIX rename). Durable only after syncDir of both parents. */
  rename(from: string, to: string): void;
  unlink(path: string): void;
  rmdir(dir: string): void;
  /** fsync a directory so that entries created, renamed or removed in it are durable. */
  syncDir(dir: string): void;
  /**
   * Makes `path` a file of `size` zero bytes, fdatasynced, in the background (NodeVfs: in a
   * thread of its own). The file is created (replacing one of that name) before this returns;
   * its directory entry is not synced. Removing the file meanwhile may make the preparation fail. Optional (wrappers in tests do without): callers then make the file themselves.
   */
  prepare?(path: string, size: number): Preparation;
  /**
   * Runs `steps` in order in the background (NodeVfs: in prepare's thread; works run one at a
   * time, in the order given), stopping at the first that fails (the rest are not run). A handle
   * in a step must stay open until the work has ended. Optional, as prepare.
   */
  background?(steps: BackgroundStep[]): Background;
  /** Whole-file helpers for small files (control files, DB_CONFIG, lock files). */
  readFile(path: string): Buffer;
  /** Writes a whole file (create or replace, not atomic, not synced). */
  writeFile(path: string, data: Uint8Array, options?: { mode?: number }): void;
}
