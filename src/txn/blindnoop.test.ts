// Blind writes that changed nothing on their snapshot: a delete that found no key. Another
// transaction inserts that key and commits first; the delete, committed after it, is replayed on
// the latest state like any blind write (rebase), so the key is gone — whether the deleting
// transaction changed nothing else (it used to commit as empty) or changed other pages only (it
// used to install as it was, its pages being current: the leaf it only read was not checked).
// Found by the seed sweep of txn/ranges.test (CAIRN_SEED=29 and 33).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { Environment } from '../env/environment.js';

async function setup(): Promise<{ env: Environment; db: Awaited<ReturnType<Environment['openDatabase']>> }> {
  const vfs = new SimVfs();
  vfs.mkdir('/env', { recursive: true });
  vfs.syncDir('/');
  const env = await Environment.open('/env', { create: true, vfs, pageSize: 1024 });
  const db = await env.openDatabase('t.db', { create: true });
  // Enough entries for many leaves: 'a…' keys at the start of the tree, 'z…' at its end.
  const txn = env.begin();
  for (let i = 0; i < 300; i++) db.put(Buffer.from(`m${String(i).padStart(4, '0')}`), Buffer.alloc(60, i), txn);
  await txn.commit();
  return { env, db };
}

const K = Buffer.from('a-key');

test('a delete that found no key, committed after an insert of that key, deletes it (nothing else written)', async () => {
  const { env, db } = await setup();
  const inserter = env.begin();
  const deleter = env.begin();
  assert.equal(db.del(K, deleter), 0, 'not there in the deleter\'s snapshot');
  db.put(K, Buffer.from('v'), inserter);
  await inserter.commit();
  await deleter.commit();
  assert.equal(await db.get(K), undefined);
  await env.close();
});

test('a delete that found no key, committed after an insert of that key, deletes it (other pages written too)', async () => {
  const { env, db } = await setup();
  const inserter = env.begin();
  const deleter = env.begin();
  assert.equal(db.del(K, deleter), 0);
  db.put(Buffer.from('z-far-away'), Buffer.from('w'), deleter); // a leaf at the other end of the tree
  db.put(K, Buffer.from('v'), inserter);
  await inserter.commit();
  await deleter.commit();
  assert.equal(await db.get(K), undefined);
  assert.deepEqual(await db.get(Buffer.from('z-far-away')), Buffer.from('w'));
  await env.close();
});

test('a delete that found no key, with no commit in between, commits as nothing', async () => {
  const { env, db } = await setup();
  const before = env.stat().txn.commits;
  const deleter = env.begin();
  assert.equal(db.del(K, deleter), 0);
  await deleter.commit();
  assert.equal(env.stat().txn.commits, before, 'no commit record for a transaction that changed nothing');
  assert.equal(await db.get(K), undefined);
  await env.close();
});
