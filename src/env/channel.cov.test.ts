// The coordination channel served by an environment open in THIS process (issue 4 item 9): the
// other channel tests talk to a writer child that is killed with kill -9, which leaves no
// coverage data, so the server's request handling is measured here. Protocol edge cases
// (requests split across packets, several in one packet, ids echoed, non-object requests,
// bad pin arguments, unknown pins, more requests queued than allowed), pins listed in status
// and released at close, and the client's handling of refusals, garbage replies, a closed
// connection and an owner whose channel does not answer. ~1 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { ChannelClient, SOCKET_PATH_FILE, channelPath, connectChannel } from './channel.js';
import { rawConnect as connect, tmpdir } from '../testing/backupkit.js';
import { CairnError } from '../util/errors.js';


async function fill(env: Environment, from: number, n: number): Promise<void> {
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = from; i < from + n; i++) await env.transaction((t) => db.put(`k${i}`, Buffer.alloc(400, i & 0xff), t), { durability: 'nosync' });
  await env.flushLog();
}

test('the channel of an environment in this process: framing, ids, pins, archive, refusals', async () => {
  const dir = tmpdir('chancov');
  const home = path.join(dir, 'env');
  const env = await Environment.open(home, { create: true, logFileSize: 32 * 1024, checkpoint: false });
  try {
    await fill(env, 0, 200);
    const sock = channelPath(home);
    const c = await connect(sock);

    // One request split over three packets, then two requests in one packet: ids echoed, null when absent.
    c.send('{"op":"st');
    c.send('atus","id":');
    c.send('"a"}\n');
    let r = await c.next();
    assert.deepEqual([r.ok, r.id, r.pid], [true, 'a', process.pid]);
    c.send('{"op":"status"}\n"just a string"\n');
    r = await c.next();
    assert.deepEqual([r.ok, r.id], [true, null]);
    r = await c.next();
    assert.deepEqual([r.ok, r.id], [false, null]);
    assert.match(String(r.error), /a request must be a JSON object with an "op"/);

    c.send('not json at all\n{"op":"format-disk","id":9}\n');
    r = await c.next();
    assert.match(String(r.error), /^malformed request/);
    r = await c.next();
    assert.deepEqual([r.ok, r.id, r.code], [false, 9, 'INVALID_ARGUMENT']);
    assert.match(String(r.error), /unknown op "format-disk"/);

    // Pins: a bad "from", a pin from the first log, listed in status; unpin of an unknown pin.
    c.send('{"op":"pin","from":0,"id":1}\n');
    r = await c.next();
    assert.deepEqual([r.ok, r.code], [false, 'INVALID_ARGUMENT']);
    assert.match(String(r.error), /"from" must be a log file number/);
    c.send('{"op":"pin","id":2}\n');
    const pin = await c.next();
    assert.equal(pin.ok, true);
    const logFiles = pin.logFiles as number[];
    assert.ok(logFiles.length >= 2, `${logFiles.length} log files`);
    assert.equal(pin.from, logFiles[0]);
    c.send('{"op":"status","id":3}\n');
    r = await c.next();
    assert.deepEqual(r.pins, [{ id: pin.pin, from: logFiles[0] }]);
    c.send('{"op":"unpin","pin":999,"id":4}\n');
    r = await c.next();
    assert.deepEqual([r.ok, r.code], [false, 'NOT_FOUND']);
    assert.match(String(r.error), /unpin: no pin 999 on this connection/);

    // archive with remove while pinned: nothing removed (I5); after unpin and a checkpoint: removed.
    await env.checkpoint();
    c.send('{"op":"archive","remove":true,"id":5}\n');
    r = await c.next();
    assert.deepEqual(r.removed, [], 'pinned logs stay');
    assert.ok(fs.existsSync(path.join(home, 'log.0000000001')));
    c.send(`{"op":"unpin","pin":${pin.pin},"id":6}\n`);
    assert.equal((await c.next()).ok, true);
    c.send('{"op":"archive","remove":true,"id":7}\n');
    r = await c.next();
    assert.ok((r.removed as number[]).includes(1), JSON.stringify(r));
    assert.ok(!fs.existsSync(path.join(home, 'log.0000000001')));
    c.send('{"op":"archive","id":8}\n');
    r = await c.next();
    assert.deepEqual(r.removed, []);

    // The client: a refusal keeps the owner's code; pin with and without "from"; a pin left at close goes with the connection.
    const client = (await connectChannel(home))!;
    await assert.rejects(client.pin(0), (e: unknown) => e instanceof CairnError && e.code === 'INVALID_ARGUMENT' && /refused pin: pin: "from" must be/.test(e.message));
    const p = await client.pin();
    const p2 = await client.pin(p.from);
    assert.equal(p2.from, p.from);
    await client.unpin(p2.pin);
    const st = await client.status();
    assert.deepEqual(st.pins, [{ id: p.pin, from: p.from }]);
    assert.equal(typeof st.lastCheckpointTime, 'number');
    assert.deepEqual((await client.archive()).removed, []);

    // More requests queued on one connection than allowed: an error reply, then the owner hangs up.
    const greedy = await connect(sock);
    greedy.send('{"op":"checkpoint"}\n'.repeat(20));
    const replies: Array<Record<string, unknown>> = [];
    const done = greedy.closed.then(() => 'closed');
    for (;;) {
      const next = await Promise.race([greedy.next(), done]);
      if (next === 'closed') break;
      replies.push(next as Record<string, unknown>);
      if ((next as Record<string, unknown>).ok === false) break;
    }
    assert.ok(replies.some((x) => x.ok === false && /more than 16 requests waiting on one connection/.test(String(x.error))), JSON.stringify(replies.map((x) => x.ok)));
    await greedy.closed;
    // A line over the limit: an error reply, then the owner hangs up.
    const big = await connect(sock);
    big.send(`{"op":"status","pad":"${'x'.repeat(70 * 1024)}"}\n`);
    assert.match(String((await big.next()).error), /request longer than 65536 bytes/);
    await big.closed;
    // A connection that goes away holding a pin: the pin goes with it.
    c.send('{"op":"pin","id":10}\n');
    const held = await c.next();
    assert.ok((await client.status()).pins.some((x) => x.id === held.pin));
    c.socket.destroy();
    await c.closed;
    let pins = (await client.status()).pins;
    for (let i = 0; i < 100 && pins.some((x) => x.id === held.pin); i++) pins = (await client.status()).pins;
    assert.ok(!pins.some((x) => x.id === held.pin), 'released when its connection closed');

    // The environment closes with a client still connected and pinning: the pin is released, the client learns it.
    await env.close();
    await assert.rejects(client.status(), (e: unknown) => e instanceof CairnError && e.code === 'IO' && /closed the coordination channel/.test(e.message));
    await assert.rejects(client.status(), /closed the coordination channel/, 'and stays closed');
    client.close();
  } finally {
    await env.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the client: a reply that is not JSON, a recorded socket path, an owner whose channel does not answer', async () => {
  const dir = tmpdir('chancli');
  const sock = path.join(dir, 'fake.sock');
  // A fake owner with scripted replies: garbage, then an internal error, then a reply twice.
  const script = ['this is not json\n', '{"ok":false,"code":"INTERNAL","error":"boom"}\n', '{"ok":true,"n":1}\n{"ok":true,"n":2}\n', '{"ok":true,"n":3}\n'];
  const server = net.createServer((s) => s.on('data', () => s.write(script.shift() ?? '')));
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const socket = net.connect(sock);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const client = new ChannelClient(socket, 4242, sock);
    await assert.rejects(client.status(), (e: unknown) => e instanceof CairnError && e.code === 'IO' && /bad reply from the owner \(pid 4242\)/.test(e.message));
    await assert.rejects(client.checkpoint(), (e: unknown) => e instanceof CairnError && e.code === 'IO' && /the owner \(pid 4242\) refused checkpoint: boom/.test(e.message));
    assert.equal((await client.request<{ n: number }>('status')).n, 1);
    assert.equal((await client.request<{ n: number }>('status')).n, 3, 'a reply nobody waited for is dropped');
    client.close();
    await assert.rejects(client.status(), (e: unknown) => e instanceof CairnError && e.code === 'CLOSED');

    // A home whose owner is alive (this process) and whose recorded socket does not answer.
    const home = path.join(dir, 'env');
    const env = await Environment.open(home, { create: true });
    try {
      fs.writeFileSync(path.join(home, SOCKET_PATH_FILE), `${path.join(dir, 'nobody.sock')}\n`);
      assert.equal(channelPath(home), path.join(dir, 'nobody.sock'));
      await assert.rejects(
        connectChannel(home, { timeoutMs: 300 }),
        (e: unknown) => e instanceof CairnError && e.code === 'LOCKED' && new RegExp(`is open in process ${process.pid}, but its coordination channel .*nobody\\.sock does not answer \\(ENOENT\\)`).test(e.message),
      );
    } finally {
      await env.close();
    }
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a private socket directory left too open is tightened; one that is not a directory or cannot be made leaves the environment without its channel', async () => {
  const dir = tmpdir('chanpriv');
  const savedTmp = process.env.TMPDIR;
  try {
    const uid = process.getuid!();
    const long = (base: string) => path.join(base, 'h'.repeat(60), 'o'.repeat(60));
    // TMPDIR with our private directory already there but readable by others.
    const tmpA = path.join(dir, 'tmpA');
    fs.mkdirSync(path.join(tmpA, `cairn-${uid}`), { recursive: true, mode: 0o755 });
    fs.chmodSync(path.join(tmpA, `cairn-${uid}`), 0o755);
    process.env.TMPDIR = tmpA;
    const env = await Environment.open(long(path.join(dir, 'a')), { create: true });
    try {
      assert.equal(fs.statSync(path.join(tmpA, `cairn-${uid}`)).mode & 0o777, 0o700);
      const c = (await connectChannel(long(path.join(dir, 'a'))))!;
      assert.equal((await c.status()).pid, process.pid);
      c.close();
    } finally {
      await env.close();
    }
    // TMPDIR where that name is a regular file: the environment opens, warns, and has no channel.
    const tmpB = path.join(dir, 'tmpB');
    fs.mkdirSync(tmpB);
    fs.writeFileSync(path.join(tmpB, `cairn-${uid}`), 'not a directory');
    process.env.TMPDIR = tmpB;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const env2 = await Environment.open(long(path.join(dir, 'b')), { create: true });
    try {
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.ok(warnings.some((m) => /coordination channel for .* not available: .*is not a private directory of this user/.test(m)), warnings.join('\n'));
      await assert.rejects(connectChannel(long(path.join(dir, 'b')), { timeoutMs: 200 }), (e: unknown) => e instanceof CairnError && e.code === 'LOCKED');
      const db = await env2.openDatabase('x.db', { create: true });
      await db.put('k', 'v');
      assert.equal(db.get('k')?.toString(), 'v', 'the environment works without its channel');
    } finally {
      await env2.close();
    }
    // TMPDIR that does not exist: the same, with the mkdir error.
    process.env.TMPDIR = path.join(dir, 'no-such-tmp');
    const env3 = await Environment.open(long(path.join(dir, 'c')), { create: true });
    try {
      await new Promise((r) => setImmediate(r));
      assert.ok(warnings.some((m) => /coordination channel for .* not available: ENOENT/.test(m)), warnings.join('\n'));
    } finally {
      process.off('warning', onWarning);
      await env3.close();
    }
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
