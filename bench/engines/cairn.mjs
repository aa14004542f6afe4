// cairn, from the compiled engine in dist/ (`npx tsc -p .` first; `npm run bench` does it).
//
// What this adapter expects from the engine's API (the names of issue 6's brief):
//   Environment.open(dir, { create, durability: 'sync' | 'nosync', cacheSize })  -> Promise<env>
//   env.openDatabase(name, { create })                                          -> Promise<db>
//   env.transaction(async (txn) => ...)  commits with the env's durability      -> Promise
//   env.begin({ durability }) -> txn;  txn.commit() -> Promise;  txn.abort()
//   db.put(key, value, txn);  db.get(key) -> Buffer | undefined (synchronous)
//   db.range({}) -> ordered iterable of [key, value] (sync; an async iterable is accepted too)
//   env.checkpoint() -> Promise;  env.close() -> Promise
// Optional (the workloads that need them report "n/a" while they are missing):
//   env.flushLog() | env.logFlush() | env.sync() | env.flush()  the one sync after a relaxed
//       load (W1); without any of them the harness falls back to env.checkpoint()
//   env.hotBackup(destDir) -> Promise                                        (W6, R2)
//   Environment.recover(dir, { catastrophic: true }) -> Promise<{ logBytes? }> (R1, R2)
import fs from 'node:fs';
import { NotApplicable } from '../lib/adapter.mjs';

// CAIRN_DIST=/abs/path/index.js benchmarks another build (e.g. a worktree of an older commit).
const DIST = process.env.CAIRN_DIST ? new URL(`file://${process.env.CAIRN_DIST}`) : new URL('../../dist/index.js', import.meta.url);
const FLUSH_METHODS = ['flushLog', 'logFlush', 'sync', 'flush'];

/** @type {any} */
let cairn;
async function load() {
  if (!cairn) {
    if (!fs.existsSync(DIST)) throw new Error(`${DIST.pathname} does not exist (engine not built, or src/index.ts missing)`);
    cairn = await import(DIST.href);
    if (typeof cairn.Environment?.open !== 'function') {
      throw new Error('dist/index.js exports no Environment.open()');
    }
  }
  return cairn;
}

/** @param {any} iterable @param {(k: Buffer, v: Buffer) => void} fn */
async function forEachEntry(iterable, fn) {
  if (iterable && typeof iterable[Symbol.iterator] === 'function') {
    for (const [k, v] of iterable) fn(k, v);
  } else if (iterable && typeof iterable[Symbol.asyncIterator] === 'function') {
    for await (const [k, v] of iterable) fn(k, v);
  } else {
    throw new Error('db.range({}) returned neither an iterable nor an async iterable');
  }
}

/** @type {import('../lib/adapter.mjs').Adapter} */
export default {
  name: 'cairn',
  settings: {
    common: "Environment.open(dir, { create: true, cacheSize: 64 MiB }); one database 'bench.db'",
    sync: "durability 'sync': every commit is durable when its promise resolves",
    relaxed: "env durability 'nosync' and env.begin({ durability: 'nosync' }) per batch; the final sync is env.flushLog()/sync()/flush() if present, else env.checkpoint()",
    writeBatch: 'txn = env.begin(); db.put(k, v, txn) × 1000; await txn.commit()',
    putSync1: 'await env.transaction(async (txn) => db.put(k, v, txn))',
    get: 'db.get(k) (synchronous)',
    scan: 'for (const [k, v] of db.range({}))',
  },
  w3Mode: 'native: concurrent env.transaction() calls, group commit inside the engine',
  backupMethod: 'env.hotBackup(dest)',
  r2Method: 'hot backup taken by the primary before it dies; the standby process runs Environment.recover(copy, {catastrophic:true}), opens it and serves a get',
  async probe() {
    await load();
    let version = 'dist';
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
      version = `cairn ${pkg.version} (dist)`;
    } catch {}
    return version;
  },
  async open(dir, { cacheBytes, durability }) {
    const { Environment } = await load();
    const mode = durability === 'relaxed' ? 'nosync' : 'sync';
    const env = await Environment.open(dir, { create: true, durability: mode, cacheSize: cacheBytes });
    const db = await env.openDatabase('bench.db', { create: true });
    return {
      async writeBatch(keys, values) {
        const txn = env.begin({ durability: mode });
        try {
          for (let i = 0; i < keys.length; i++) db.put(keys[i], values[i], txn);
        } catch (e) {
          await txn.abort?.();
          throw e;
        }
        await txn.commit();
      },
      async flush() {
        for (const m of FLUSH_METHODS) {
          if (typeof env[m] === 'function') {
            await env[m]();
            return `env.${m}()`;
          }
        }
        await env.checkpoint();
        return 'env.checkpoint() (no log-flush method found)';
      },
      async putSync1(key, value) {
        await env.transaction(async (/** @type {any} */ txn) => {
          db.put(key, value, txn);
        });
      },
      async putConcurrent(key, value) {
        await env.transaction(async (/** @type {any} */ txn) => {
          db.put(key, value, txn);
        });
      },
      get(key) {
        return db.get(key);
      },
      async scan() {
        let n = 0;
        let bytes = 0;
        await forEachEntry(db.range({}), (k, v) => {
          n++;
          bytes += k.length + v.length;
        });
        return bytes >= 0 ? n : -1;
      },
      backup:
        typeof env.hotBackup === 'function'
          ? async (dest) => {
              await env.hotBackup(dest);
            }
          : null,
      async close() {
        await env.close();
      },
    };
  },
  async recover(dir) {
    const { Environment } = await load();
    if (typeof Environment.recover !== 'function') throw new NotApplicable('Environment.recover() is missing');
    return await Environment.recover(dir, { catastrophic: true });
  },
};
