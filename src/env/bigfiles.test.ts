// Issue 21: the environment's own small files are never read whole when they cannot be what they
// claim. A huge or sparse `__cairn.control` or `__cairn.pages` (a crafted copy, a damaged disk)
// is CORRUPT naming the file at once, without allocating its size, and catastrophic recovery
// (what the message advises) rebuilds both from the logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { CorruptionError } from '../util/errors.js';

async function populated(home: string): Promise<void> {
  const env = await Environment.open(home, { create: true });
  const db = await env.openDatabase('d.db', { create: true });
  await env.transaction((t) => {
    for (let i = 0; i < 100; i++) db.put(`k${i}`, `v${i}`, t);
  });
  await env.close();
}

for (const [name, size, what] of [
  ['__cairn.pages', 3 * 1024 ** 3, /page LSN map of 3221225472 bytes/],
  ['__cairn.control', 2 * 1024 ** 3, /control file of 2147483648 bytes/],
] as const) {
  test(`a sparse ${name} of ${size} bytes: open is CORRUPT naming it, unread; db_recover -c rebuilds it`, async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-big-'));
    try {
      await populated(home);
      fs.truncateSync(path.join(home, name), size); // sparse: no blocks, the size only
      const rss0 = process.memoryUsage().rss;
      await assert.rejects(Environment.open(home), (e: unknown) => e instanceof CorruptionError && e.file === path.join(home, name) && what.test(e.message) && /db_recover -c/.test(e.message));
      assert.ok(process.memoryUsage().rss - rss0 < 256 * 1024 * 1024, 'the file was not read');
      await Environment.recover(home, { catastrophic: true });
      const env = await Environment.open(home);
      const db = await env.openDatabase('d.db');
      assert.equal(db.count(), 100);
      assert.equal(db.get('k42')!.toString(), 'v42');
      await env.close();
      assert.ok(fs.statSync(path.join(home, name)).size < 1024 * 1024, `${name} rewritten at its real size`);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
}
