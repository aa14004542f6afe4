// NodeVfs against a real temporary directory: every Vfs operation once, and errors surfacing as
// IoError with the errno code (ENOENT, EEXIST, EBADF, ...).

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NodeVfs, nodeVfs, readBootId } from './node.js';
import { IoError } from '../util/errors.js';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-node-vfs-'));
}

function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof IoError, `expected IoError, got ${String(err)}`);
    return err.errno;
  }
  assert.fail('expected an IoError');
}

test('open, write, read, size, truncate, sync, syncAsync, close', async () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'f');
    const h = nodeVfs.open(file, { create: true, exclusive: true });
    h.write(Buffer.from('hello world'), 0);
    h.write(Buffer.from('!'), 20);
    assert.equal(h.size(), 21);
    const buf = Buffer.alloc(32);
    assert.equal(h.read(buf, 0), 21);
    assert.equal(buf.subarray(0, 11).toString(), 'hello world');
    assert.equal(h.read(buf, 21), 0);
    h.truncate(5);
    h.sync();
    await h.syncAsync();
    h.close();
    assert.equal(fs.readFileSync(file, 'utf8'), 'hello');
    assert.equal(errno(() => nodeVfs.open(file, { create: true, exclusive: true })), 'EEXIST');
    const ro = nodeVfs.open(file, { readOnly: true });
    assert.equal(errno(() => ro.write(Buffer.from('x'), 0)), 'EBADF');
    ro.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('missing files and directories are ENOENT; stat of a missing path is undefined', () => {
  const dir = tmpDir();
  try {
    const vfs = new NodeVfs();
    assert.equal(errno(() => vfs.open(path.join(dir, 'nope'))), 'ENOENT');
    assert.equal(errno(() => vfs.open(path.join(dir, 'no', 'f'), { create: true })), 'ENOENT');
    assert.equal(errno(() => vfs.readFile(path.join(dir, 'nope'))), 'ENOENT');
    assert.equal(errno(() => vfs.unlink(path.join(dir, 'nope'))), 'ENOENT');
    assert.equal(vfs.stat(path.join(dir, 'nope')), undefined);
    vfs.writeFile(path.join(dir, 'file'), Buffer.from('x'));
    assert.equal(vfs.stat(path.join(dir, 'file', 'below')), undefined);
    const err = (() => {
      try {
        vfs.open(path.join(dir, 'nope'));
      } catch (e) {
        return e as IoError;
      }
      return undefined;
    })();
    assert.match(String(err?.message), /open .*nope failed: ENOENT/);
    assert.equal(err?.code, 'IO');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('mkdir, readdir sorted, rename, rmdir, syncDir, readFile, writeFile, stat', () => {
  const dir = tmpDir();
  try {
    const vfs = nodeVfs;
    vfs.mkdir(path.join(dir, 'a', 'b'), { recursive: true });
    for (const name of ['z', 'm', 'b2', 'A']) {
      vfs.writeFile(path.join(dir, 'a', name), Buffer.from(name));
    }
    assert.deepEqual(vfs.readdir(path.join(dir, 'a')), ['A', 'b', 'b2', 'm', 'z']);
    vfs.rename(path.join(dir, 'a', 'z'), path.join(dir, 'a', 'm'));
    assert.equal(vfs.readFile(path.join(dir, 'a', 'm')).toString(), 'z');
    vfs.syncDir(path.join(dir, 'a'));
    const st = vfs.stat(path.join(dir, 'a', 'm'));
    assert.equal(st?.size, 1);
    assert.equal(st?.isDirectory, false);
    assert.equal(st?.isFile, true);
    assert.equal(vfs.stat(path.join(dir, 'a'))?.isDirectory, true);
    assert.equal(vfs.stat(path.join(dir, 'a'))?.isFile, false);
    vfs.rmdir(path.join(dir, 'a', 'b'));
    assert.equal(errno(() => vfs.rmdir(path.join(dir, 'a'))), 'ENOTEMPTY');
    assert.equal(errno(() => vfs.syncDir(path.join(dir, 'missing'))), 'ENOENT');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stat of a FIFO: neither a regular file nor a directory (opening one would block)', () => {
  const dir = tmpDir();
  try {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const st = nodeVfs.stat(fifo);
    assert.equal(st?.isFile, false);
    assert.equal(st?.isDirectory, false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('readBootId returns the kernel boot id on Linux', () => {
  const id = readBootId();
  if (process.platform === 'linux') assert.match(String(id), /^[0-9a-f-]{36}$/);
  else assert.equal(id, undefined);
});

test('prepare: a file of zeros made in another thread, seen done without an event-loop turn; a failure is an IoError', async () => {
  const dir = tmpDir();
  const alive = setInterval(() => {}, 1000); // the thread is unref'd: keep the process up for its messages
  try {
    const file = path.join(dir, 'next');
    fs.writeFileSync(file, Buffer.alloc(5000, 0xab)); // replaced, not reused
    const size = 3 * 1024 * 1024 + 100;
    const p = nodeVfs.prepare(file, size);
    // No await and no turn: the state is read from memory the thread writes.
    const deadline = Date.now() + 30_000;
    let state = p.state();
    while (state === false && Date.now() < deadline) state = p.state();
    assert.equal(state, true);
    await p.done;
    const bytes = fs.readFileSync(file);
    assert.equal(bytes.length, size);
    assert.ok(bytes.equals(Buffer.alloc(size)), 'every byte is zero');
    // The file is made before prepare returns: a directory that does not exist fails at once.
    assert.equal(errno(() => nodeVfs.prepare(path.join(dir, 'missing', 'next'), 4096)), 'ENOENT');
  } finally {
    clearInterval(alive);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('background: steps run in order in another thread, seen done without an event-loop turn or by wait(); a failed step stops the work', async () => {
  const dir = tmpDir();
  try {
    const a = path.join(dir, 'a');
    const h = nodeVfs.open(a, { create: true });
    h.write(Buffer.from('data'), 0);
    const work = nodeVfs.background([{ op: 'sync', handle: h }, { op: 'rename', from: a, to: path.join(dir, 'b') }, { op: 'syncDir', dir }]);
    work.wait();
    assert.equal(work.state(), true, 'ended well, seen after wait() without a turn');
    await work.done;
    assert.deepEqual(fs.readdirSync(dir), ['b']);
    const bad = nodeVfs.background([{ op: 'rename', from: path.join(dir, 'missing'), to: path.join(dir, 'c') }, { op: 'rename', from: path.join(dir, 'b'), to: path.join(dir, 'd') }]);
    await assert.rejects(bad.done, (e: unknown) => e instanceof IoError && e.errno === 'ENOENT' && /rename/.test(e.message));
    assert.ok(bad.state() instanceof IoError);
    assert.deepEqual(fs.readdirSync(dir), ['b'], 'no step ran after the failed one');
    // State is visible without an event-loop turn: spin on it (a loop of microtasks only).
    const spun = nodeVfs.background([{ op: 'syncDir', dir }]);
    for (let i = 0; spun.state() === false; i++) {
      assert.ok(i < 1e9, 'ends without a turn');
      await Promise.resolve();
    }
    h.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
