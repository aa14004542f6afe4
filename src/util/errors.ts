// Typed errors. Every condition a caller can meet has a code; bugs are asserts (see assert.ts).

/** The `code` of every `CairnError`: what kind of condition it is (README §Errors). */
export type ErrorCode =
  | 'INVALID_ARGUMENT' // a caller passed something the API does not accept
  | 'NOT_FOUND' // a named file, database or directory does not exist
  | 'EXISTS' // create was exclusive and the thing exists
  | 'LOCKED' // another live process owns the environment (I9)
  | 'CORRUPT' // a checksum, identity or structure check failed (I6)
  | 'RUN_RECOVERY' // the environment panicked or needs recovery (I8, I7)
  | 'IO' // an operating-system I/O error (ENOSPC, EIO, ...)
  | 'CONFIG' // DB_CONFIG or an option is malformed
  | 'CLOSED' // the handle was closed
  | 'TXN_STATE' // the transaction already committed or aborted
  | 'CONFLICT' // the transaction's reads were overwritten by a concurrent commit
  | 'READ_ONLY' // a write was attempted through a read-only handle
  | 'TOO_LARGE' // a key or value exceeds the documented limits
  | 'SNAPSHOT_TOO_OLD' // the snapshot kept more older page versions than snapshotLimit allows: it was invalidated
  | 'ENCODING'; // a stored key or value does not decode with the handle's keyEncoding/valueEncoding

/** Every error cairn throws for a condition (not a bug): `code` says which. */
export class CairnError extends Error {
  /** What kind of condition this is. */
  readonly code: ErrorCode;
  /** @internal */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CairnError';
  }
}

/** A checksum, identity or structure mismatch, always with the file and byte offset (I6). */
export class CorruptionError extends CairnError {
  /** The damaged file, absolute. */
  readonly file: string;
  /** The byte offset of the damaged page or record in `file`. */
  readonly offset: number;
  /** What is wrong, without the file and offset. */
  readonly what: string;
  /**
   * @internal The page, when `file` names only a page (`page N`: the B-tree knows pages, not
   * files) and `offset` is within it: `locateCorruption` (src/page/page_check.ts) turns it into
   * the data file's path and byte offset.
   */
  declare readonly pgno?: number;
  /** @internal */
  constructor(file: string, offset: number, what: string, pgno?: number) {
    super('CORRUPT', `${file} at offset ${offset}: ${what}`);
    this.file = file;
    this.offset = offset;
    this.what = what;
    if (pgno !== undefined) this.pgno = pgno;
    this.name = 'CorruptionError';
  }
}

/** Another live process owns the environment (I9). */
export class LockedError extends CairnError {
  /** The owner's process id. */
  readonly pid: number;
  /** @internal */
  constructor(home: string, pid: number) {
    super('LOCKED', `environment ${home} is in use by process ${pid}; close it there, or stop that process`);
    this.pid = pid;
    this.name = 'LockedError';
  }
}

/** The environment panicked (I8) or needs recovery before use (I7). */
export class RunRecoveryError extends CairnError {
  /** @internal */
  constructor(message: string, options?: { cause?: unknown }) {
    super('RUN_RECOVERY', message, options);
    this.name = 'RunRecoveryError';
  }
}

/** An operating-system error from the I/O seam, keeping errno's code (ENOSPC, EIO, ...). */
export class IoError extends CairnError {
  /** The system error code, e.g. `ENOSPC`, `EIO`. */
  readonly errno: string;
  /** The file or directory the operation was on. */
  readonly path: string;
  /** @internal */
  constructor(op: string, path: string, errno: string, options?: { cause?: unknown }) {
    super('IO', `${op} ${path} failed: ${errno}`, options);
    this.errno = errno;
    this.path = path;
    this.name = 'IoError';
  }
}

export function invalid(message: string): CairnError {
  return new CairnError('INVALID_ARGUMENT', message);
}
