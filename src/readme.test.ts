// The README runs as written (issue 22): every fenced code block of README.md is executed.
// TypeScript blocks are type-checked (strict, against the package's own declarations reached as
// 'cairndb') and run as ES modules in a fresh directory; shell blocks run under bash with the
// package's bins on PATH against a live primary owned by this process. A block is skipped only
// when an HTML comment `<!-- readme-test: not run … -->` right before it says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Environment } from './index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tscJs = path.join(root, 'node_modules', 'typescript', 'lib', 'tsc.js');

interface Block {
  lang: string;
  code: string;
  line: number;
  skip: string | undefined;
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    assert.ok(i < lines.length, `README.md:${start + 1}: unterminated code block`);
    const marker = /^<!-- readme-test: ([^>]*)-->$/.exec(lines[start - 1] ?? '')?.[1];
    const skip = marker?.startsWith('not run') ? marker : undefined;
    const lang = marker?.startsWith('DB_CONFIG') ? 'DB_CONFIG' : open[1]!;
    out.push({ lang, code: body.join('\n') + '\n', line: start + 1, skip });
  }
  return out;
}

const readme = blocks(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-readme-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // 'cairndb' resolves to this checkout, through its package.json exports, as for a user.
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'cairndb'), 'dir');
  return dir;
}

test('README.md has code blocks, and every one is run or says why not', () => {
  assert.ok(readme.length >= 3, `found only ${readme.length} blocks`);
  for (const b of readme) {
    assert.ok(['ts', 'sh', 'DB_CONFIG'].includes(b.lang) || b.skip !== undefined, `README.md:${b.line}: a \`\`\`${b.lang} block this test cannot run; mark it ts or sh (or DB_CONFIG), or say why it is not run`);
  }
});

for (const b of readme.filter((x) => x.lang === 'ts' && x.skip === undefined)) {
  test(`README.md:${b.line}: the TypeScript block type-checks and runs`, async (t) => {
    const dir = scratch(t);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    fs.writeFileSync(path.join(dir, 'block.ts'), b.code);
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          exactOptionalPropertyTypes: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules', '@types')],
          noUnusedLocals: false,
          outDir: 'out',
        },
        files: ['block.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [tscJs, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(tsc.status, 0, `README.md:${b.line} does not type-check:\n${tsc.stdout}${tsc.stderr}`);
    const r = await run(process.execPath, [path.join(dir, 'out', 'block.js')], dir, process.env);
    assert.equal(r.code, 0, `README.md:${b.line} failed:\n${r.out}`);
  });
}

for (const b of readme.filter((x) => x.lang === 'sh' && x.skip === undefined)) {
  test(`README.md:${b.line}: the shell block runs against a live primary and the failover copy holds every commit`, async (t) => {
    const dir = scratch(t);
    // The primary's DB_CONFIG as the README gives it (its log retention line).
    fs.mkdirSync(path.join(dir, 'primary'));
    fs.writeFileSync(path.join(dir, 'primary', 'DB_CONFIG'), readme.filter((x) => x.lang === 'DB_CONFIG').map((x) => x.code).join(''));
    const primary = await Environment.open(path.join(dir, 'primary'), { create: true, logFileSize: 64 * 1024 });
    let open = true;
    t.after(async () => {
      if (open) await primary.close();
    });
    const db = await primary.openDatabase('data.db', { create: true });
    const n = 300;
    for (let i = 0; i < n; i++) {
      await db.put(`k${String(i).padStart(5, '0')}`, Buffer.alloc(500, i & 255));
      if (i === n / 2) await primary.checkpoint();
    }
    // The bins on PATH under their package names, as npm links them into node_modules/.bin.
    const bins = path.join(dir, 'node_modules', '.bin');
    fs.mkdirSync(bins);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    for (const [name, file] of Object.entries(pkg.bin)) fs.symlinkSync(path.join(root, file), path.join(bins, name));
    const env = { ...process.env, PATH: `${bins}${path.delimiter}${process.env['PATH'] ?? ''}` };
    const r = await run('bash', ['-euo', 'pipefail', '-c', b.code], dir, env);
    assert.equal(r.code, 0, `README.md:${b.line} failed:\n${r.out}`);
    await primary.close();
    open = false;
    const copy = await Environment.open(path.join(dir, 'failover'));
    try {
      const cdb = await copy.openDatabase('data.db');
      let count = 0;
      for (const [k, v] of cdb.range()) {
        assert.equal(k.toString(), `k${String(count).padStart(5, '0')}`);
        assert.equal(v[0], count & 255);
        count++;
      }
      assert.equal(count, n, 'the failover copy holds every committed put');
    } finally {
      await copy.close();
    }
  });
}
