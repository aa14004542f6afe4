// Targeted tests written for the planted-bug yardstick (issue 4 item 8, scripts/planted.mjs):
// each catches a bug no older test caught. Seeded: CAIRN_SEED replays one seed.
//
//   - commits racing a checkpoint, then a power loss: every acknowledged commit survives (a
//     redo point taken after the page writes would skip the racing commits);
//   - db_archive -d after a checkpoint, then a power loss: recovery still has its logs;
//   - a hot backup while a writer commits and checkpoints: the backup recovers (logs copied
//     before the data files are older than the pages and are refused, I4/I7).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import '../backup/register.js'; // env.hotBackup(), env.archive()
import type { Database } from './database.js';
import { rng, randInt, testSeeds } from '../util/random.js';
import { lsnFile } from '../util/lsn.js';

const HOME = '/env';
const k = (i: number) => `key${String(i).padStart(6, '0')}`;

function contents(db: Database): Map<string, string> {
  return new Map([...db.range()].map(([a, b]) => [a.toString(), b.toString()]));
}

async function fresh(logFileSize = 64 * 1024): Promise<{ vfs: SimVfs; env: Environment; db: Database }> {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  const env = await Environment.open(HOME, { autoRemoveLogs: false, create: true, vfs, logFileSize, checkpoint: false, pageSize: 1024 });
  const db = await env.openDatabase('a.db', { create: true });
  return { vfs, env, db };
}

/** `n` transactions of a few random puts and deletes; `model` follows every acknowledged one. */
async function writes(env: Environment, db: Database, model: Map<string, string>, r: () => number, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const changes: Array<[string, string | undefined]> = [];
    await env.transaction((t) => {
      for (let j = 0; j < 1 + randInt(r, 4); j++) {
        const key = k(randInt(r, 600));
        if (randInt(r, 6) === 0) {
          db.del(key, t);
          changes.push([key, undefined]);
        } else {
          const v = `${tag}.${i}.${j}`.repeat(1 + randInt(r, 20));
          db.put(key, v, t);
          changes.push([key, v]);
        }
      }
    });
    for (const [key, v] of changes) {
      if (v === undefined) model.delete(key);
      else model.set(key, v);
    }
  }
}

for (const seed of testSeeds(3)) {
  test(`commits racing a checkpoint survive a power loss right after it, seed ${seed}`, async () => {
    const r = rng(seed);
    const { vfs, env, db } = await fresh();
    const model = new Map<string, string>();
    await writes(env, db, model, r, 150, 'a'); // many dirty pages: the checkpoint yields while writing them
    await Promise.all([env.checkpoint(), writes(env, db, model, r, 20 + randInt(r, 20), 'b'), writes(env, db, model, r, 20, 'c')]);
    const image = vfs.crash({ seed, mode: 'drop' }); // only what was fsynced
    await env.close();
    const env2 = await Environment.open(HOME, { autoRemoveLogs: false, vfs: image, checkpoint: false });
    assert.deepEqual(contents(await env2.openDatabase('a.db')), model, `seed ${seed}: acknowledged commits lost (replay: CAIRN_SEED=${seed})`);
    await env2.close();
  });

  test(`logs removed by db_archive -d are never needed by recovery, seed ${seed}`, async () => {
    const r = rng(seed);
    const { vfs, env, db } = await fresh(32 * 1024);
    const model = new Map<string, string>();
    while (lsnFile(env.logEnd) < 4) await writes(env, db, model, r, 20, 'a');
    await env.checkpoint();
    await writes(env, db, model, r, 5 + randInt(r, 30), 'b');
    const removed = await env.archive({ remove: true });
    assert.ok(removed.length > 0, `seed ${seed}: nothing to remove; the test means nothing`);
    await writes(env, db, model, r, 5 + randInt(r, 30), 'c');
    const image = vfs.crash({ seed, mode: 'drop' });
    await env.close();
    const env2 = await Environment.open(HOME, { autoRemoveLogs: false, vfs: image, checkpoint: false });
    assert.deepEqual(contents(await env2.openDatabase('a.db')), model, `seed ${seed} (replay: CAIRN_SEED=${seed})`);
    await env2.close();
  });

  test(`a hot backup taken while a writer commits and checkpoints recovers (I4), seed ${seed}`, async () => {
    const r = rng(seed);
    const { env, db } = await fresh(256 * 1024);
    const model = new Map<string, string>();
    // About 4 MB of data: the backup copies it in 256 KiB chunks and yields between them, so the
    // writer's commits and checkpoints land in pages the copy has not read yet.
    for (let b = 0; b < 40; b++) {
      await env.transaction((t) => {
        for (let i = b * 100; i < (b + 1) * 100; i++) {
          db.put(k(i), `${i}`.padEnd(1000, 'v'), t);
          model.set(k(i), `${i}`.padEnd(1000, 'v'));
        }
      });
    }
    await env.checkpoint();
    let done = false;
    const states = [JSON.stringify([...model])]; // the model after each commit from here on
    const writer = (async () => {
      for (let i = 0; !done; i++) {
        const key = k(randInt(r, 4000));
        const v = `w${seed}.${i}`.padEnd(200 + randInt(r, 800), 'w');
        await db.put(key, v);
        model.set(key, v);
        states.push(JSON.stringify([...model]));
        await env.checkpoint();
      }
    })();
    try {
      await env.hotBackup('/backup');
    } finally {
      done = true;
      await writer;
    }
    const b = await Environment.open('/backup', { autoRemoveLogs: false, vfs: env.vfs, checkpoint: false });
    const got = JSON.stringify([...contents(await b.openDatabase('a.db'))]);
    assert.ok(states.includes(got), `seed ${seed}: the backup equals no committed state (${states.length - 1} commits during the backup; replay: CAIRN_SEED=${seed})`);
    await b.close();
    await env.close();
  });
}
