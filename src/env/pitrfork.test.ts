// Recovery to a point before a failed-over copy's fork (issue 22 item 7): the log before the
// fork is the old primary's history, so such a recovery is refused up front with a message that
// says so, and leaves the copy as it was. (It used to succeed, and the result then refused to
// open, blaming "the old primary's logs copied over it".)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { CairnError } from '../util/errors.js';
import { tmpDir } from '../testing/toolskit.js';

async function fill(home: string, from: number, n: number): Promise<string> {
  const env = await Environment.open(home, { create: true, logFileSize: 64 * 1024 });
  const db = await env.openDatabase('d.db', { create: true });
  for (let i = from; i < from + n; i++) await db.put(`k${String(i).padStart(4, '0')}`, `v${i}`);
  const end = env.stat().log.end;
  await env.close();
  return end;
}

async function keys(home: string): Promise<number> {
  const env = await Environment.open(home, { readOnly: true });
  try {
    let n = 0;
    for (const _ of (await env.openDatabase('d.db')).range()) n++;
    return n;
  } finally {
    await env.close();
  }
}

test('recovery of a failed-over copy to a point before its fork is refused, and the copy is unchanged', async (t) => {
  const dir = tmpDir('cairn-pitrfork-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const primary = path.join(dir, 'p');
  const failover = path.join(dir, 'f');
  const early = await fill(primary, 0, 100); // a point in the old primary's history
  await fill(primary, 100, 100);
  fs.cpSync(primary, failover, { recursive: true });
  await Environment.recover(failover, { catastrophic: true });
  await fill(failover, 200, 100); // the failover: opened read-write, a new history
  assert.equal(await keys(failover), 300);

  // As an operator would for recovery to a point: a copy without its data files.
  const r = path.join(dir, 'r');
  fs.cpSync(failover, r, { recursive: true });
  fs.rmSync(path.join(r, 'd.db'));
  fs.rmSync(path.join(r, '__cairn.pages'));
  const before = new Map(fs.readdirSync(r).map((n) => [n, fs.readFileSync(path.join(r, n))]));
  await assert.rejects(
    Environment.recover(r, { catastrophic: true, untilLsn: early }),
    (e: unknown) => e instanceof CairnError && e.code === 'INVALID_ARGUMENT' && /before this environment's failover at \[\d+\]\[\d+\], in the old primary's history/.test(e.message),
  );
  const after = new Map(fs.readdirSync(r).map((n) => [n, fs.readFileSync(path.join(r, n))]));
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'no file made or removed');
  for (const [n, b] of before) assert.ok(after.get(n)!.equals(b), `${n} unchanged`);
  // The failed-over copy itself recovers whole, as before.
  await Environment.recover(failover, { catastrophic: true });
  assert.equal(await keys(failover), 300);
});
