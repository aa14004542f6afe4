// Test kit (issue 16, red-team F5/F14): appends crafted log records with valid checksums at the
// end of a closed environment's log on the real file system, as an attacker who can put log
// files where an operator recovers them would. The checksum is crc32(file, offset, body): no
// secret is needed. With `crash`, the control file is set to 'open' so that a plain open runs
// normal recovery over the records too.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeRecord, type LogRecord } from '../log/records.js';
import { logFileName, recordChecksum } from '../log/file.js';
import { MetaOffset, initMeta } from '../page/meta.js';
import { PageType } from '../page/format.js';
import { initPageHeader } from '../page/pager.js';
import { readControl, writeControl } from '../env/control.js';
import { nodeVfs } from '../io/node.js';
import { makeLsn } from '../util/lsn.js';

export interface Crafted {
  type: LogRecord['type'];
  /** The log file's path and the record's offset in it: what a CorruptionError must name. */
  file: string;
  offset: number;
}

/** A record without its txn: the kit gives every record of one call the same crafted txn id. */
export type Craft = { type: 'file_create'; file: number; name: string; pageSize: number } | { type: 'file_remove'; file: number; name: string } | { type: 'file_rename'; file: number; name: string; newName: string } | { type: 'page_image'; file: number; pgno: number; image: Buffer } | { type: 'commit'; time?: number };

/** A meta page that claims to be page 0 of file `uid` of the environment (enough for a page_image record). */
export function metaImage(envIdHex: string, uid: number, pageSize = 512): Buffer {
  const img = Buffer.alloc(pageSize);
  initPageHeader(img, 0, uid, PageType.Meta);
  initMeta(img, pageSize, Buffer.from(envIdHex, 'hex'));
  img.writeUInt32LE(1, MetaOffset.pageCount);
  return img;
}

/** Appends the records at the control file's end of log (one transaction, id `txn`). */
export function appendRecords(home: string, records: Craft[], options: { crash?: boolean; txn?: number } = {}): Crafted[] {
  const control = readControl(nodeVfs, home)!;
  const fileNo = Math.floor(control.end / 2 ** 32);
  let offset = control.end % 2 ** 32;
  const logPath = path.join(home, logFileName(fileNo));
  const txn = options.txn ?? 900_001;
  const out: Crafted[] = [];
  const fd = fs.openSync(logPath, 'r+');
  try {
    for (const c of records) {
      const rec = (c.type === 'commit' ? { type: 'commit', txn, time: c.time ?? Date.now(), durable: makeLsn(fileNo, offset) } : { ...c, txn }) as LogRecord;
      const body = encodeRecord(rec);
      const head = Buffer.alloc(8);
      head.writeUInt32LE(body.length, 0);
      head.writeUInt32LE(recordChecksum(fileNo, offset, body), 4);
      fs.writeSync(fd, Buffer.concat([head, body]), 0, 8 + body.length, offset);
      out.push({ type: rec.type, file: logPath, offset });
      offset += 8 + body.length;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (options.crash) writeControl(nodeVfs, home, { ...control, state: 'open' });
  return out;
}
