// CAIRN_CHECKS (src/util/checks.ts): `strict` verifies every tree a commit changed before the
// commit returns, so a commit that installs a broken page fails with an AssertionError at once
// instead of reading wrongly later; without it the same broken page commits silently. And the
// always-on I1 assertion at a data file write.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Environment } from './environment.js';
import { SimVfs } from '../io/sim.js';
import { checks } from '../util/checks.js';
import { AssertionError } from '../util/assert.js';
import { PageOffset } from '../page/format.js';
import { writeLsn } from '../util/lsn.js';

/** A commit that also scribbles over its leaf's entry count, as a bug in the B-tree could. */
async function brokenCommit(env: Environment): Promise<void> {
  const db = await env.openDatabase('d.db', { create: true });
  await env.transaction((t) => {
    for (let i = 0; i < 20; i++) db.put(`k${String(i).padStart(2, '0')}`, 'v', t);
  });
  const t = env.begin();
  db.put('k05', 'changed', t);
  const w = t.writer(db.file);
  for (const [pgno, buf] of w.changed) if (pgno === db.tree.root) buf.writeUInt16LE(buf.readUInt16LE(PageOffset.count) + 3, PageOffset.count);
  await t.commit();
}

test('CAIRN_CHECKS=strict: a commit that installs a broken leaf throws an AssertionError naming the file; without it the commit goes through', async () => {
  const was = checks.strict;
  try {
    checks.strict = false;
    const quiet = await Environment.open('/a', { create: true, vfs: new SimVfs() });
    await brokenCommit(quiet);
    await quiet.close().catch(() => {});
    checks.strict = true;
    const strict = await Environment.open('/b', { create: true, vfs: new SimVfs() });
    await assert.rejects(brokenCommit(strict), (e: unknown) => e instanceof AssertionError && /strict check after a commit: d\.db: database ""/.test(e.message));
    await strict.close().catch(() => {});
    // Sound commits pass the check.
    const fine = await Environment.open('/c', { create: true, vfs: new SimVfs() });
    const db = await fine.openDatabase('d.db', { create: true });
    for (let i = 0; i < 300; i++) await db.put(`key${i}`, Buffer.alloc(200, i));
    await fine.close();
  } finally {
    checks.strict = was;
  }
});

test('I1 asserted at every data file write: a page whose LSN is past the durable log is never written', async () => {
  const env = await Environment.open('/e', { create: true, vfs: new SimVfs() });
  const db = await env.openDatabase('d.db', { create: true });
  await db.put('k', 'v');
  const page = Buffer.from(env.pager.read(db.file, db.tree.root, Infinity));
  writeLsn(page, PageOffset.lsnFile, env.pager.durableLsn!() + 1000);
  assert.throws(() => env.pager.writePage(db.file, db.tree.root, page), (e: unknown) => e instanceof AssertionError && /I1: page/.test(e.message));
  await env.close().catch(() => {});
});
