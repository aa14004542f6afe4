// Limits of the owner's coordination channel (issue 21 item 4, F16, report §D): pin ranges are
// validated ({"from":1e308} refused), pins are capped per connection and in all, an idle
// connection (no pin, or half a line) is closed with an error line while one holding a pin stays,
// and past the connection limit a client is told that limit instead of "it may have exited".
// ~1 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { MAX_CONNECTIONS, MAX_PINS, MAX_PINS_PER_CONNECTION, channelPath, connectChannel } from './channel.js';
import { CairnError } from '../util/errors.js';
import { type RawChannel as Raw, rawConnect as connect } from '../testing/backupkit.js';

async function withEnv(idleMs: number, fn: (env: Environment, sock: string) => Promise<void>): Promise<void> {
  // The owner's server and sockets are unref'd and live in this process: keep the loop alive.
  const keep = setInterval(() => {}, 1000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-chanlimits-'));
  const home = path.join(dir, 'env');
  const env = await Environment.open(home, { create: true, checkpoint: false, channelIdleMs: idleMs });
  try {
    await fn(env, channelPath(home));
  } finally {
    await env.close();
    fs.rmSync(dir, { recursive: true, force: true });
    clearInterval(keep);
  }
}

test('pin ranges are validated: 1e308, past the current log file, beyond 2^32 are refused', async () => {
  await withEnv(60_000, async (_env, sock) => {
    const c = await connect(sock);
    for (const from of ['1e308', '4294967297', '2', '-1', '1.5', '"1"']) {
      c.send(`{"op":"pin","from":${from}}\n`);
      const r = await c.next();
      assert.deepEqual([r.ok, r.code], [false, 'INVALID_ARGUMENT'], `from ${from}: ${JSON.stringify(r)}`);
    }
    c.send('{"op":"pin","from":1}\n');
    assert.equal((await c.next()).ok, true);
    c.send('{"op":"status"}\n');
    assert.deepEqual((await c.next()).pins, [{ id: 1, from: 1 }]);
    c.socket.destroy();
  });
});

test('pins are capped per connection and in all', async () => {
  await withEnv(60_000, async (_env, sock) => {
    const conns: Raw[] = [];
    try {
      for (let k = 0; k < MAX_PINS / MAX_PINS_PER_CONNECTION; k++) {
        const c = await connect(sock);
        conns.push(c);
        for (let i = 0; i < MAX_PINS_PER_CONNECTION; i++) {
          c.send('{"op":"pin"}\n');
          assert.equal((await c.next()).ok, true);
        }
        c.send('{"op":"pin"}\n');
        const r = await c.next();
        assert.deepEqual([r.ok, r.code], [false, 'TOO_LARGE'], JSON.stringify(r));
        assert.match(String(r.error), new RegExp(`this connection already holds ${MAX_PINS_PER_CONNECTION} pins`));
      }
      const extra = await connect(sock);
      conns.push(extra);
      extra.send('{"op":"pin"}\n');
      const r = await extra.next();
      assert.deepEqual([r.ok, r.code], [false, 'TOO_LARGE'], JSON.stringify(r));
      assert.match(String(r.error), new RegExp(`the owner already holds ${MAX_PINS} pins`));
      // Released with their connection: room again.
      conns.shift()!.socket.destroy();
      await new Promise((res) => setTimeout(res, 50));
      extra.send('{"op":"pin"}\n');
      assert.equal((await extra.next()).ok, true);
      extra.send('{"op":"status"}\n');
      assert.equal(((await extra.next()).pins as unknown[]).length, MAX_PINS - MAX_PINS_PER_CONNECTION + 1);
    } finally {
      for (const c of conns) c.socket.destroy();
    }
  });
});

test('idle connections are closed with a reason; one holding a pin, or waiting for a reply, stays', async () => {
  await withEnv(150, async (_env, sock) => {
    const idle = await connect(sock);
    const half = await connect(sock);
    const pinned = await connect(sock);
    half.send('{"op":"pin"}\n{"op":"sta');
    pinned.send('{"op":"pin"}\n');
    assert.equal((await pinned.next()).ok, true);
    assert.equal((await half.next()).ok, true);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<string>((res) => (timer = setTimeout(() => res('still open after 5 s'), 5000)));
    assert.equal(await Promise.race([Promise.all([idle.closed, half.closed]).then(() => 'closed'), bound]), 'closed');
    clearTimeout(timer);
    for (const c of [idle, half]) {
      const r = await c.next();
      assert.deepEqual([r.ok, r.code], [false, 'CLOSED']);
      assert.match(String(r.error), /idle for 0.15 s/);
    }
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(pinned.socket.destroyed, false, 'a connection holding a pin may wait silently');
    pinned.send('{"op":"status"}\n');
    assert.equal((await pinned.next()).ok, true);
    pinned.socket.destroy();
  });
});

test(`past ${MAX_CONNECTIONS} connections a client is told the connection limit, not "it may have exited"`, async () => {
  await withEnv(60_000, async (env, sock) => {
    const held: Raw[] = [];
    try {
      for (let i = 0; i < MAX_CONNECTIONS; i++) {
        const c = await connect(sock);
        held.push(c);
        c.send('{"op":"status"}\n'); // answered: the owner has accepted it
        assert.equal((await c.next()).ok, true);
      }
      const client = (await connectChannel(env.home))!;
      await assert.rejects(client.status(), (e) => e instanceof CairnError && new RegExp(`the owner has reached its connection limit of ${MAX_CONNECTIONS}`).test(e.message) && !/may have exited/.test(e.message));
      client.close();
      // An unsolicited refusal read before any request is kept for the next request.
      const raw = await connect(sock);
      const r = await raw.next();
      assert.deepEqual([r.ok, r.code], [false, 'LOCKED']);
      await raw.closed;
      held.pop()!.socket.destroy();
      await new Promise((r) => setTimeout(r, 50));
      const ok = (await connectChannel(env.home))!;
      assert.equal((await ok.status()).pid, process.pid);
      ok.close();
    } finally {
      for (const c of held) c.socket.destroy();
    }
  });
});
