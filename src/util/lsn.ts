// A log sequence number: (log file number, byte offset), packed into one JS number as
// file * 2^32 + offset so that LSNs compare with < and ===. Exact while file < 2^21
// (2,097,152 log files, 20 TiB of log at the default 10 MiB file size).

export type Lsn = number;

const TWO32 = 0x1_0000_0000;
export const MAX_LOG_FILE = 0x1f_ffff;

export function makeLsn(file: number, offset: number): Lsn {
  return file * TWO32 + offset;
}
export function lsnFile(lsn: Lsn): number {
  return Math.floor(lsn / TWO32);
}
export function lsnOffset(lsn: Lsn): number {
  return lsn % TWO32;
}
/** Berkeley DB's printed form: [file][offset]. */
export function formatLsn(lsn: Lsn): string {
  return `[${lsnFile(lsn)}][${lsnOffset(lsn)}]`;
}
/** Accepts "file/offset" or "[file][offset]". */
export function parseLsn(text: string): Lsn | undefined {
  const m = /^\s*(?:\[(\d+)\]\[(\d+)\]|(\d+)\/(\d+))\s*$/.exec(text);
  if (!m) return undefined;
  const file = Number(m[1] ?? m[3]);
  const offset = Number(m[2] ?? m[4]);
  if (file > MAX_LOG_FILE || offset >= TWO32) return undefined;
  return makeLsn(file, offset);
}
export function writeLsn(buf: Buffer, at: number, lsn: Lsn): void {
  buf.writeUInt32LE(lsnFile(lsn), at);
  buf.writeUInt32LE(lsnOffset(lsn), at + 4);
}
export function readLsn(buf: Buffer, at: number): Lsn {
  return makeLsn(buf.readUInt32LE(at), buf.readUInt32LE(at + 4));
}
