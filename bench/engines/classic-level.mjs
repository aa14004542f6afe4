// classic-level (LevelDB through N-API + the libuv thread pool).
import { readFileSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { fsyncTree } from '../lib/fsutil.mjs';

const pkgVersion = () =>
  JSON.parse(readFileSync(new URL('../node_modules/classic-level/package.json', import.meta.url), 'utf8')).version;

/** @type {import('../lib/adapter.mjs').Adapter} */
export default {
  name: 'classic-level',
  settings: {
    common: 'keyEncoding/valueEncoding "buffer", cacheSize 64 MiB (block cache), LevelDB defaults otherwise (4 MiB write buffer, 4 KiB blocks, snappy compression), UV_THREADPOOL_SIZE default (4)',
    sync: '{ sync: true } on every write: fdatasync of the .log per write group',
    relaxed: '{ sync: false }; the final sync is an fsync of every file and directory of the database',
    writeBatch: 'chained batch: db.batch().put() × 1000, then .write() (db.batch(array) is much slower in classic-level 3)',
    putSync1: 'await db.put(k, v, { sync: true })',
    get: 'db.getSync(k) (classic-level 3; its async get is ~15x slower)',
    scan: 'db.iterator() with nextv(1000) (async, batched)',
  },
  w3Mode: 'native: concurrent db.put(k, v, {sync:true}) through the libuv pool (4 threads), LevelDB group-commits its writer queue',
  backupMethod: 'none (LevelDB has no online backup API)',
  async probe() {
    return 'classic-level ' + pkgVersion();
  },
  async open(dir, { cacheBytes, durability }) {
    const sync = durability === 'sync';
    /** @type {ClassicLevel<Buffer, Buffer>} */
    const db = new ClassicLevel(dir, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      cacheSize: cacheBytes,
      createIfMissing: true,
    });
    await db.open();
    const syncOpt = { sync: true };
    return {
      async writeBatch(keys, values) {
        const b = db.batch();
        for (let i = 0; i < keys.length; i++) b.put(keys[i], values[i]);
        await b.write({ sync });
      },
      async flush() {
        fsyncTree(dir);
        return 'fsync of every file';
      },
      async putSync1(key, value) {
        await db.put(key, value, syncOpt);
      },
      async putConcurrent(key, value) {
        await db.put(key, value, syncOpt);
      },
      get(key) {
        return db.getSync(key);
      },
      async scan() {
        const it = db.iterator({ keys: true, values: true });
        let n = 0;
        let bytes = 0;
        try {
          for (;;) {
            const entries = await it.nextv(1000);
            if (entries.length === 0) break;
            for (const [k, v] of entries) {
              n++;
              bytes += k.length + v.length;
            }
          }
        } finally {
          await it.close();
        }
        return bytes >= 0 ? n : -1;
      },
      backup: null,
      async close() {
        await db.close();
      },
    };
  },
};
