// cairn: an embedded, transactional key/value storage environment for Node.js.
import './backup/register.js'; // env.hotBackup() and env.archive() (env/backupport.ts)
export { Environment } from './env/environment.js';
export type { EnvironmentOptions, OpenDatabaseOptions, RecoverOptions, RecoveryReport, EnvironmentStat, HotBackupOptions, HotBackupReport, ArchiveOptions } from './env/environment.js';
export { Database, DbCursor } from './env/database.js';
export type { Bytes, Input, RangeOptions, PutOptions, Descriptor } from './env/database.js';
export type { Encoding, OrderedKey, KeyEncodingName, ValueEncodingName } from './env/encoding.js';
export { Transaction } from './txn/txn.js';
export type { Durability } from './txn/txn.js';
export type { DupMode } from './btree/btree.js';
export { CairnError, CorruptionError, LockedError, RunRecoveryError, IoError } from './util/errors.js';
export type { ErrorCode } from './util/errors.js';
export type { Progress, ProgressCallback } from './util/progress.js';
