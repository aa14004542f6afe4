// Every log record type covered three ways (reliability.md §9.2, issue 4 item 2), recd001 style:
//   redo   the data files from before the operation plus the log after it recover to the
//          state after it (redo onto the pre-image);
//   noop   the data files from after the operation (checkpointed) plus the whole log,
//          under catastrophic recovery, recover to the same state (redo onto a page or file
//          that already has the change must do nothing);
//   twice  recovery run again over a recovered image gives the same state hash.
// Each case checks that the records it replays include the type it covers. The registry test
// at the end fails when a type of RECORD_TABLE lacks any of the three.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SimVfs } from '../io/sim.js';
import { Environment } from './environment.js';
import { LogReader } from '../log/reader.js';
import { RECORD_TABLE, type RecordName } from '../log/records.js';
import type { Lsn } from '../util/lsn.js';

const HOME = '/env';
const WAYS = ['redo', 'noop', 'twice'] as const;
const covered = new Map<RecordName, Set<string>>();

/** Logical state: every data file's records, hashed. */
async function stateOf(vfs: SimVfs): Promise<{ hash: string; text: string }> {
  const env = await Environment.open(HOME, { vfs, checkpoint: false });
  try {
    const names = vfs.readdir(HOME).filter((n) => n.endsWith('.db')).sort();
    const parts: string[] = [];
    for (const n of names) {
      const db = await env.openDatabase(n);
      parts.push(`${n}: ${[...db.range()].map(([k, v]) => `${k.toString()}=${v.toString().slice(0, 40)}/${v.length}`).join(' ')}`);
    }
    const text = parts.join('\n');
    return { hash: createHash('sha256').update(text).digest('hex'), text };
  } finally {
    await env.close();
  }
}

/** Record types in the log of `vfs` from `from` (the whole log when undefined). */
function typesIn(vfs: SimVfs, from?: Lsn): Set<string> {
  const reader = new LogReader(vfs, HOME);
  const out = new Set<string>();
  for (const raw of reader.records(from)) out.add(reader.decode(raw).type);
  return out;
}

const logOnly = (p: string) => /log\.\d+$/.test(p);

interface Case {
  type: RecordName;
  op: (env: Environment) => Promise<void>;
}

const put = async (env: Environment, file: string, keys: number, tag: string) => {
  const db = await env.openDatabase(file, { create: true });
  await env.transaction((t) => {
    for (let i = 0; i < keys; i++) db.put(`k${String(i).padStart(4, '0')}`, `${tag}${i}`.padEnd(60, '.'), t);
  });
};

const CASES: Case[] = [
  { type: 'page_image', op: (env) => put(env, 'a.db', 40, 'img') },
  {
    type: 'page_delta',
    op: async (env) => {
      await put(env, 'a.db', 40, 'one');
      await put(env, 'a.db', 40, 'two');
    },
  },
  { type: 'file_create', op: (env) => put(env, 'c.db', 10, 'new') },
  { type: 'file_remove', op: (env) => env.removeDatabase('b.db') },
  { type: 'file_rename', op: (env) => env.renameDatabase('b.db', undefined, 'r.db') },
  { type: 'commit', op: (env) => put(env, 'a.db', 3, 'c') },
  {
    type: 'checkpoint',
    op: async (env) => {
      await put(env, 'a.db', 40, 'ck');
      await env.checkpoint();
      await put(env, 'a.db', 5, 'after');
    },
  },
];

function mark(type: RecordName, way: string): void {
  if (!covered.has(type)) covered.set(type, new Set());
  covered.get(type)!.add(way);
}

for (const c of CASES) {
  test(`log record ${c.type}: redo onto the pre-image, redo onto the post-image (no-op), recovery twice`, async () => {
    const vfs = new SimVfs();
    vfs.mkdir(HOME, { recursive: true });
    const env = await Environment.open(HOME, { create: true, vfs, logFileSize: 64 * 1024, checkpoint: false, pageSize: 1024 });
    await put(env, 'a.db', 40, 'base');
    await put(env, 'b.db', 20, 'b');
    await env.checkpoint();
    const pre = vfs.snapshotFiles(); // the data files before the operation, and the control file
    const redo = env.redoPoint;
    await c.op(env);
    await env.flushLog();
    const post = vfs.snapshotFiles(); // its log
    // The expected state: the live environment's, after a clean checkpoint.
    await env.checkpoint();
    const done = vfs.snapshotFiles();
    await env.close();
    const want = await stateOf(SimVfs.fromFiles(done));

    // redo: pre-operation data files + the log after it, normal recovery.
    const files = new Map<string, Uint8Array>([...pre].filter(([p]) => !logOnly(p)));
    for (const [p, d] of post) if (logOnly(p)) files.set(p, d);
    const a = SimVfs.fromFiles(files);
    assert.ok(typesIn(a, redo).has(c.type), `${c.type}: the operation logged no ${c.type} record after the redo point`);
    const gotA = await stateOf(a);
    assert.equal(gotA.text, want.text, `${c.type}: redo onto the pre-image`);
    mark(c.type, 'redo');

    // twice: recovery again over the recovered image (catastrophic: every record replayed again).
    await Environment.recover(HOME, { vfs: a, catastrophic: true });
    const gotTwice = await stateOf(a);
    assert.equal(gotTwice.hash, gotA.hash, `${c.type}: the second recovery changed the state`);
    await Environment.recover(HOME, { vfs: a });
    assert.equal((await stateOf(a)).hash, gotA.hash, `${c.type}: a third (normal) recovery changed the state`);
    mark(c.type, 'twice');

    // noop: post-operation data files (checkpointed) + the whole log, catastrophic recovery.
    const b = SimVfs.fromFiles(done);
    assert.ok(typesIn(b).has(c.type), `${c.type}: no ${c.type} record in the log`);
    await Environment.recover(HOME, { vfs: b, catastrophic: true });
    assert.equal((await stateOf(b)).text, want.text, `${c.type}: redo onto pages that already have the change`);
    mark(c.type, 'noop');
  });
}

test('registry: every log record type is covered by redo, no-op and recovery twice', () => {
  const missing: string[] = [];
  for (const type of Object.keys(RECORD_TABLE) as RecordName[]) {
    for (const way of WAYS) if (!covered.get(type)?.has(way)) missing.push(`${type}/${way}`);
  }
  assert.deepEqual(missing, [], `record types lacking a recovery path test: ${missing.join(', ')} (add a case to src/env/recordtypes.test.ts)`);
});
