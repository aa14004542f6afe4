// The live coordination channel (issue 3): malformed, oversized and unknown requests get error
// replies while the owner keeps committing; pins hold log files against db_archive -d (I5) and
// go away when their connection closes; stale sockets are replaced; long homes fall back to a
// socket under the tmp directory; the server never keeps its process alive.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { ChannelClient, MAX_REQUEST_BYTES, SOCKET_FILE, SOCKET_PATH_FILE, channelPath, connectChannel } from './channel.js';
import { Writer, logsIn, ok, run, tmpdir } from '../testing/backupkit.js';

/** A raw connection: send text, read reply lines. */
async function raw(socketPath: string): Promise<{ send: (t: string) => void; line: () => Promise<string>; closed: Promise<void>; end: () => void }> {
  const s = net.createConnection(socketPath);
  await new Promise<void>((res, rej) => s.once('connect', res).once('error', rej));
  let buf = '';
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  s.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  s.on('error', () => {});
  const closed = new Promise<void>((res) => s.on('close', () => res()));
  return {
    send: (t) => void s.write(t),
    line: () => (lines.length > 0 ? Promise.resolve(lines.shift()!) : new Promise((res) => waiters.push(res))),
    closed,
    end: () => s.destroy(),
  };
}

test('malformed, oversized and unknown requests get error replies; the owner keeps committing', async () => {
  const dir = tmpdir('chan');
  const home = path.join(dir, 'env');
  const writer = new Writer(home, { delayMs: 1 });
  try {
    await writer.ready;
    const sock = channelPath(home);
    assert.equal(sock, path.join(home, SOCKET_FILE));
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600, 'the socket is reachable only by the owner user');
    const c = await raw(sock);
    c.send('this is not json\n');
    let r = JSON.parse(await c.line());
    assert.equal(r.ok, false);
    assert.match(r.error, /^malformed request/);
    c.send('[1,2]\n');
    assert.match(JSON.parse(await c.line()).error, /must be a JSON object/);
    c.send('{"op":"format-disk","id":7}\n');
    r = JSON.parse(await c.line());
    assert.deepEqual([r.ok, r.id], [false, 7]);
    assert.match(r.error, /unknown op "format-disk"; the channel serves status, checkpoint, archive, pin, unpin/);
    c.send('{"op":"status","id":8}\n');
    r = JSON.parse(await c.line());
    assert.equal(r.ok, true);
    assert.equal(r.pid, writer.pid);
    // One line over the limit: an error reply, then the owner hangs up.
    const before = writer.acked;
    const big = await raw(sock);
    big.send('{"op":"status","pad":"' + 'x'.repeat(MAX_REQUEST_BYTES) + '"}\n');
    r = JSON.parse(await big.line());
    assert.equal(r.ok, false);
    assert.match(r.error, /request longer than 65536 bytes/);
    await big.closed;
    // A slow trickle without a newline is cut off too.
    const trickle = await raw(sock);
    for (let i = 0; i < 20; i++) trickle.send('y'.repeat(4096));
    assert.match(JSON.parse(await trickle.line()).error, /longer than/);
    await trickle.closed;
    await writer.more(50);
    assert.ok(writer.acked >= before + 50, 'the owner kept committing');
    c.send('{"op":"status"}\n');
    assert.equal(JSON.parse(await c.line()).ok, true, 'the first connection still works');
    c.end();
  } finally {
    await writer.kill9();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('pins keep log files from db_archive -d until unpinned or disconnected (I5); db_recover is refused while the owner lives', async () => {
  const dir = tmpdir('pin');
  const home = path.join(dir, 'env');
  const writer = new Writer(home, { logFileSize: 32768, checkpointKb: 100000, delayMs: 1 });
  try {
    await writer.ready;
    await writer.more(300); // several log files
    const client = (await connectChannel(home))!;
    assert.ok(client !== undefined);
    const pin = await client.pin();
    assert.ok(pin.pin > 0);
    const first = pin.logFiles[0]!;
    await ok('db_checkpoint', ['-1', '-h', home]);
    let st = await client.status();
    assert.deepEqual(st.pins, [{ id: pin.pin, from: first }]);
    assert.deepEqual(st.removable, [], 'nothing is removable while pinned from the first log');
    const logsBefore = logsIn(home);
    const arch = await ok('db_archive', ['-d', '-v', '-h', home]);
    assert.equal(arch.stdout, '');
    assert.match(arch.stderr, new RegExp(`pin ${pin.pin}: a backup keeps log files from log\\.${String(first).padStart(10, '0')} on`));
    for (const n of logsBefore) assert.ok(fs.existsSync(path.join(home, n)), `${n} survived db_archive -d`);

    // db_recover refuses, naming the owner; nothing changes.
    const rec = await run('db_recover', ['-h', home]);
    assert.equal(rec.code, 1);
    assert.equal(rec.stdout, '');
    assert.equal(rec.stderr, `db_recover: ${home} is open in process ${writer.pid}; recovering under a running owner would corrupt it: stop that process first (db_checkpoint and db_hotbackup work through it while it runs)\n`);

    // A second client's pin goes away when its connection closes.
    const other = (await connectChannel(home))!;
    const p2 = await other.pin();
    st = await client.status();
    assert.equal(st.pins.length, 2);
    other.close();
    for (let i = 0; i < 50 && (await client.status()).pins.length !== 1; i++) await new Promise((r) => setTimeout(r, 20));
    st = await client.status();
    assert.deepEqual(st.pins.map((p) => p.id), [pin.pin], `pin ${p2.pin} was released with its connection`);

    // Unpinned: db_archive -d removes the inactive logs.
    await client.unpin(pin.pin);
    st = await client.status();
    assert.ok(st.removable.length > 0);
    const removed = (await ok('db_archive', ['-h', home])).stdout.split('\n').filter(Boolean);
    assert.deepEqual(removed, st.removable.map((n) => `log.${String(n).padStart(10, '0')}`));
    await ok('db_archive', ['-d', '-h', home]);
    for (const n of removed) assert.ok(!fs.existsSync(path.join(home, n)), `${n} removed`);
    client.close();

    // A killed utility never pins forever: a child that pins and is killed with SIGKILL.
    const script = `import { connectChannel } from ${JSON.stringify(path.resolve('dist/env/channel.js'))};
      const c = await connectChannel(process.argv[1]); const p = await c.pin(); console.log('pinned ' + p.pin); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, home], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res) => child.stdout!.once('data', () => res()));
    const c3 = (await connectChannel(home))!;
    assert.equal((await c3.status()).pins.length, 1);
    child.kill('SIGKILL');
    for (let i = 0; i < 100 && (await c3.status()).pins.length !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await c3.status()).pins.length, 0, 'the killed utility pin was released');
    c3.close();
  } finally {
    await writer.kill9();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a stale socket is replaced at open; a long home uses a socket under the tmp directory; no owner means no client', async () => {
  const dir = tmpdir('stale');
  try {
    const home = path.join(dir, 'env');
    await (await Environment.open(home, { create: true })).close();
    assert.equal(await connectChannel(home), undefined, 'no live owner: undefined');
    fs.writeFileSync(path.join(home, SOCKET_FILE), 'left by a killed owner');
    const env = await Environment.open(home);
    try {
      const c = (await connectChannel(home))!;
      const st = await c.status();
      assert.equal(st.pid, process.pid);
      assert.equal(st.home, home);
      c.close();
    } finally {
      await env.close();
    }
    assert.ok(!fs.existsSync(path.join(home, SOCKET_FILE)), 'the socket is removed at close');

    const long = path.join(dir, 'a'.repeat(60), 'b'.repeat(60));
    const env2 = await Environment.open(long, { create: true });
    try {
      const c = (await connectChannel(long))!;
      const where = fs.readFileSync(path.join(long, SOCKET_PATH_FILE), 'utf8').trim();
      assert.equal(c.socketPath, where);
      assert.ok(where.length < 100 && fs.statSync(where).isSocket());
      assert.equal(fs.statSync(where).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(where)).mode & 0o777, 0o700);
      assert.equal((await c.checkpoint()).redo, env2.redoPoint);
      c.close();
    } finally {
      await env2.close();
    }
    assert.ok(!fs.existsSync(path.join(long, SOCKET_PATH_FILE)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the channel never keeps the owner process alive', async () => {
  const dir = tmpdir('unref');
  try {
    const script = `import { Environment } from ${JSON.stringify(path.resolve('dist/index.js'))};
      const env = await Environment.open(process.argv[1], { create: true }); console.log('open');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, path.join(dir, 'env')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const code = await new Promise<number | null>((res) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        res(-1);
      }, 10000);
      child.on('exit', (c) => {
        clearTimeout(t);
        res(c);
      });
    });
    assert.equal(code, 0, 'the process exited by itself with its environment (and channel) open');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a request the owner never answers fails with a clear error instead of hanging', async () => {
  const dir = tmpdir('silent');
  const sock = path.join(dir, 'silent.sock');
  // An "owner" that accepts the connection and never replies (as one blocked in a sync call).
  const server = net.createServer((s) => s.on('data', () => {}));
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const socket = net.connect(sock);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const client = new ChannelClient(socket, 4242, sock);
    client.replyMs = 200;
    await assert.rejects(client.status(), /pid 4242\) did not answer "status" within 0\.2 s/);
    await assert.rejects(client.status(), /did not answer/); // the connection is done for
    client.close();
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
