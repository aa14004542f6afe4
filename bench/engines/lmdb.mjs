// lmdb-js (LMDB through N-API). No engine cache: reads go through the OS page cache via mmap.
import { readFileSync } from 'node:fs';
import { open as lmdbOpen } from 'lmdb';

const pkgVersion = () =>
  JSON.parse(readFileSync(new URL('../node_modules/lmdb/package.json', import.meta.url), 'utf8')).version;

/** @type {import('../lib/adapter.mjs').Adapter} */
export default {
  name: 'lmdb',
  settings: {
    common: 'keyEncoding/encoding "binary", compression off, 4 KiB pages (default), no JS object cache; 64 MiB cache n/a (mmap)',
    sync: 'noSync:false, overlappingSync:false (lmdb-js default overlappingSync:true returns before the flush, so it is not durable at return): every commit = data pwrite + fdatasync + meta write',
    relaxed: 'noSync:true; the final sync is db.sync() (mdb_env_sync(force=1))',
    writeBatch: 'db.transactionSync(() => putSync × 1000)',
    putSync1: 'db.putSync(k, v) (own synchronous durable transaction)',
    get: 'db.getBinary(k) (fresh Buffer per value)',
    scan: 'for (const {key, value} of db.getRange({})) (synchronous iterator)',
  },
  w3Mode: 'native: concurrent async db.put(); lmdb-js merges the puts pending in an event turn into one transaction + one flush on its write thread',
  backupMethod: 'db.backup(dest, false) = mdb_env_copy2 without compaction',
  async probe() {
    return 'lmdb-js ' + pkgVersion();
  },
  async open(dir, { durability }) {
    const relaxed = durability === 'relaxed';
    const db = lmdbOpen({
      path: dir,
      keyEncoding: 'binary',
      encoding: 'binary',
      compression: false,
      noSync: relaxed,
      overlappingSync: false,
    });
    return {
      writeBatch(keys, values) {
        db.transactionSync(() => {
          for (let i = 0; i < keys.length; i++) db.putSync(keys[i], values[i]);
        });
      },
      async flush() {
        await new Promise((resolve, reject) =>
          /** @type {any} */ (db).sync((/** @type {unknown} */ err) => (err ? reject(err) : resolve(undefined))),
        );
        return 'db.sync()';
      },
      putSync1(key, value) {
        db.putSync(key, value);
      },
      async putConcurrent(key, value) {
        await db.put(key, value);
      },
      get(key) {
        return db.getBinary(key);
      },
      scan() {
        let n = 0;
        let bytes = 0;
        for (const { key, value } of db.getRange({})) {
          n++;
          bytes += /** @type {Buffer} */ (key).length + /** @type {Buffer} */ (value).length;
        }
        return bytes >= 0 ? n : -1;
      },
      async backup(dest) {
        await db.backup(dest, false); // dest: an existing directory, receives data.mdb
      },
      async close() {
        await db.close();
      },
    };
  },
};
