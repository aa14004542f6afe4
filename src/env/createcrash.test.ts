// Crashes and failures around creation (issue 16 item 5, red-team §D "Half-made home after a
// failed create" and "Misleading 'No such file'"):
//   * an Environment.open({ create: true }) stopped by a failed fsync (of a file or of the
//     directory: SimVfs fault injection, each in turn) leaves a home that the next
//     open({ create: true }) makes again, in the same process and after a crash; an open
//     without create names it — never "a copy or backup that was never recovered";
//   * a crash whose data lives only in the log (the data file's creation never reached the disk):
//     db_dump says the environment needs recovery, db_recover brings the data back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { REPO, killedAfterReady, runProcess, tmpDir } from '../testing/toolskit.js';

const HOME = '/env';

test('a create stopped by a failed fsync (each one in turn) is made again by the next open({ create: true }); an open without create names it', async () => {
  let cases = 0;
  for (const op of ['sync', 'syncDir'] as const) {
    for (let nth = 1; nth < 50; nth++) {
      const vfs = new SimVfs();
      vfs.inject({ op, nth, errno: 'EIO' });
      let opened: Environment | undefined;
      try {
        opened = await Environment.open(HOME, { create: true, vfs, logFileSize: 32 * 1024, checkpoint: false });
      } catch (e) {
        assert.match((e as Error).message, /EIO/);
      }
      vfs.clearFaults();
      if (opened !== undefined) {
        await opened.close();
        break; // past the creation's fsyncs
      }
      cases++;
      const crashed = vfs.crash({ seed: nth, mode: 'random' });
      for (const [how, image] of [['same process', vfs], ['after a crash', crashed]] as const) {
        const where = `${op} #${nth}, ${how}`;
        try {
          await (await Environment.open(HOME, { vfs: image })).close();
        } catch (e) {
          assert.doesNotMatch((e as Error).message, /never recovered/, where);
          assert.doesNotMatch((e as Error).message, /\n/, where);
        }
        const env = await Environment.open(HOME, { vfs: image, create: true, logFileSize: 32 * 1024, checkpoint: false });
        const db = await env.openDatabase('a.db', { create: true });
        await db.put('k', where);
        await env.close();
        const again = await Environment.open(HOME, { vfs: image });
        assert.equal(String((await again.openDatabase('a.db')).get('k')), where);
        await again.close();
      }
    }
  }
  assert.ok(cases >= 4, `the creation has fsyncs to fail (${cases})`);
});

test("a crash whose data lives only in the log: db_dump says it needs recovery (not 'No such file'), db_recover brings the data back", async () => {
  const base = tmpDir('log-only');
  const home = path.join(base, 'home');
  try {
    await (await Environment.open(home, { create: true, logFileSize: 64 * 1024 })).close();
    const script = `
      const { Environment } = await import(${JSON.stringify(path.join(REPO, 'dist', 'index.js'))});
      const env = await Environment.open(${JSON.stringify(home)}, { checkpoint: false });
      const db = await env.openDatabase('data.db', { create: true });
      await db.put('k', 'only in the log');
      console.log('READY');
      setInterval(() => {}, 1000);`;
    await killedAfterReady(script);
    // The crash came between the commit's log fsync and the data file's creation.
    fs.rmSync(path.join(home, 'data.db'), { force: true });
    const dump = await runProcess('dump', ['-h', home, 'data.db']);
    assert.notEqual(dump.code, 0);
    assert.match(dump.stderr, /needs recovery/);
    assert.match(dump.stderr, /db_recover/);
    assert.doesNotMatch(dump.stderr, /No such file/);
    const rec = await runProcess('recover', ['-h', home]);
    assert.equal(rec.code, 0, rec.stderr);
    const after = await runProcess('dump', ['-p', '-h', home, 'data.db']);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, /only in the log/);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
