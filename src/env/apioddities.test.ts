// API oddities of the red-team report §D (issue 21 item 6), each a typed error or a documented
// behaviour (README §Transactions), and DB_CONFIG values refused with the file and line that set them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Environment } from './environment.js';
import { CairnError } from '../util/errors.js';
import { SimVfs } from '../io/sim.js';

const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof CairnError && e.code === c && (re === undefined || re.test(e.message));

test('an iterator started before env.close() does not yield after it: CLOSED', async () => {
  const vfs = new SimVfs();
  const env = await Environment.open('/env', { create: true, vfs });
  const db = await env.openDatabase('d.db', { create: true });
  await env.transaction((t) => {
    for (let i = 0; i < 10; i++) db.put(`k${i}`, 'v', t);
  });
  const it = db.range({})[Symbol.iterator]();
  const rev = db.range({ reverse: true })[Symbol.iterator]();
  assert.equal(it.next().done, false);
  assert.equal(rev.next().done, false);
  await env.close();
  assert.throws(() => it.next(), code('CLOSED'));
  assert.throws(() => rev.next(), code('CLOSED'));
});

test('a transaction of another environment: INVALID_ARGUMENT naming it, not "the transaction is active"', async () => {
  const vfs = new SimVfs();
  const a = await Environment.open('/a', { create: true, vfs });
  const b = await Environment.open('/b', { create: true, vfs });
  try {
    const db = await a.openDatabase('d.db', { create: true });
    const t = b.begin();
    assert.throws(() => db.put('k', 'v', t), code('INVALID_ARGUMENT', /another environment/));
    assert.throws(() => db.get('k', t), code('INVALID_ARGUMENT', /another environment/));
    t.abort();
    assert.throws(() => db.get('k', t), code('TXN_STATE'), 'an ended one is still TXN_STATE');
  } finally {
    await a.close();
    await b.close();
  }
});

test('openDatabase with a duplicates option that does not match the existing database: INVALID_ARGUMENT', async () => {
  const vfs = new SimVfs();
  const env = await Environment.open('/env', { create: true, vfs });
  try {
    await env.openDatabase('d.db', { create: true });
    await env.openDatabase('d.db', { name: 'dups', create: true, duplicates: 'sorted' });
    await assert.rejects(env.openDatabase('d.db', { duplicates: 'sorted' }), code('INVALID_ARGUMENT', /exists with duplicates off.*does not match/));
    await assert.rejects(env.openDatabase('d.db', { name: 'dups', duplicates: false }), code('INVALID_ARGUMENT', /exists with duplicates 'sorted'/));
    await assert.rejects(env.openDatabase('d.db', { name: 'dups', create: true, duplicates: 'unsorted' }), code('INVALID_ARGUMENT'));
    // Matching or omitted: opens.
    assert.equal((await env.openDatabase('d.db', { duplicates: false })).duplicates, 'none');
    assert.equal((await env.openDatabase('d.db', { name: 'dups' })).duplicates, 'sorted');
    assert.equal((await env.openDatabase('d.db', { name: 'dups', duplicates: true })).duplicates, 'sorted');
  } finally {
    await env.close();
  }
});

test('abort() after commit() is a documented no-op (try { …; await commit() } finally { abort() }); commit after abort stays TXN_STATE', async () => {
  const vfs = new SimVfs();
  const env = await Environment.open('/env', { create: true, vfs });
  try {
    const db = await env.openDatabase('d.db', { create: true });
    const t = env.begin();
    try {
      db.put('k', 'v', t);
      await t.commit();
    } finally {
      t.abort();
    }
    assert.equal(t.state, 'committed');
    assert.equal(db.get('k')!.toString(), 'v');
    const u = env.begin();
    u.abort();
    u.abort();
    await assert.rejects(u.commit(), code('TXN_STATE'));
  } finally {
    await env.close();
  }
});

test('env.transaction() inside another env.transaction() callback: INVALID_ARGUMENT, and the outer one aborts', async () => {
  const vfs = new SimVfs();
  const env = await Environment.open('/env', { create: true, vfs });
  try {
    const db = await env.openDatabase('d.db', { create: true });
    await assert.rejects(
      env.transaction(async (t) => {
        db.put('n1', 'outer', t);
        await env.transaction(async (t2) => {
          db.put('n1', 'inner', t2);
        });
      }),
      code('INVALID_ARGUMENT', /inside another env\.transaction\(\) callback/),
    );
    await assert.rejects(
      env.transaction((t) => {
        db.put('n2', 'outer', t);
        return env.transaction((t2) => db.put('n2', 'inner', t2));
      }),
      code('INVALID_ARGUMENT'),
    );
    assert.equal(db.get('n1'), undefined, 'neither the inner nor the outer committed');
    assert.equal(db.get('n2'), undefined);
    // Transactions side by side (not nested) still run.
    await Promise.all([env.transaction((t) => db.put('a', '1', t)), env.transaction((t) => db.put('b', '2', t))]);
    assert.equal(db.get('a')!.toString() + db.get('b')!.toString(), '12');
  } finally {
    await env.close();
  }
});

test('DB_CONFIG values refused name DB_CONFIG, its path and the line', async () => {
  const cases: Array<[string, RegExp]> = [
    ['# comment\nset_lg_max 1\n', /^\/env\/DB_CONFIG line 2: set_lg_max: log file size must be at least \d+ bytes and 4 pages, got 1; fix that line$/],
    ['set_lg_bsize 1048576\nset_lg_max 1048576\n', /^\/env\/DB_CONFIG line 2: set_lg_max 1048576 must be at least 4 × set_lg_bsize/],
    ['set_flags DB_TXN_NOSYNC\nadd_data_dir nosuch\n', /^data directory \/env\/nosuch named in \/env\/DB_CONFIG line 2 does not exist/],
    ['set_cachesize 0 x 1\n', /^\/env\/DB_CONFIG line 1: /],
    ['set_lg_bsize 0\n', /^\/env\/DB_CONFIG line 1: /],
  ];
  for (const [text, re] of cases) {
    const vfs = new SimVfs();
    vfs.mkdir('/env', { recursive: true });
    vfs.writeFile('/env/DB_CONFIG', Buffer.from(text));
    await assert.rejects(Environment.open('/env', { create: true, vfs }), (e: unknown) => {
      assert.ok(e instanceof CairnError, String(e));
      assert.match(e.message, re, JSON.stringify(text));
      return true;
    });
    assert.deepEqual(vfs.readdir('/env'), ['DB_CONFIG'], `${JSON.stringify(text)}: nothing made`);
  }
  // The log directory, when the environment exists (no create).
  const vfs = new SimVfs();
  const env = await Environment.open('/env', { create: true, vfs });
  await env.close();
  vfs.writeFile('/env/DB_CONFIG', Buffer.from('\n\nset_lg_dir logs\n'));
  await assert.rejects(Environment.open('/env', { vfs }), code('NOT_FOUND', /^log directory \/env\/logs named in \/env\/DB_CONFIG line 3 does not exist/));
});
