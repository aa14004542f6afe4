// The published package as a user gets it (issue 22): `npm pack` of this checkout installed into a
// fresh project from the tarball alone (--offline: nothing but the local file), then imported as
// ESM and as CommonJS, type-checked under the strictest settings, every bin's --help run, and the
// planted-bug switch shown to be absent. The tarball is also checked for what it must and must not
// hold, and every module in it for imports that resolve inside it and none into test support
// (src/testing/, which is not packed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  engines: { node: string };
};
const tscJs = path.join(root, 'node_modules', 'typescript', 'lib', 'tsc.js');

/** The module specifiers a compiled .js file imports: static, side-effect and dynamic (a template's static prefix kept). */
function importsOf(text: string): string[] {
  return [
    ...text.matchAll(/^\s*(?:import|export)\b[^;'"`]*?\bfrom\s*(['"])([^'"]+)\1/gm),
    ...text.matchAll(/^\s*import\s*(['"])([^'"]+)\1/gm),
    ...text.matchAll(/\bimport\(\s*(['"`])([^'"`]+)\1\s*\)/g),
  ].map((m) => m[2]!);
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status} (${r.signal ?? ''}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('the packed tarball installs offline and works from ESM, CommonJS, strict TypeScript and its bins', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-pack-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // dist/ is already built by `pretest`; --ignore-scripts keeps prepack's tsc from rewriting it
  // under the test files running beside this one.
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], root)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed[0]!.files.map((f) => f.path);
  const tgz = path.join(tmp, packed[0]!.filename);

  await t.test('the tarball holds the library, bins, docs, types and licence, and nothing of the tests', () => {
    for (const want of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/level/index.js', 'dist/level/index.d.ts', 'docs/BACKUP.md']) {
      assert.ok(files.includes(want), `${want} missing from the tarball`);
    }
    for (const b of Object.values(pkg.bin)) assert.ok(files.includes(b.replace(/^\.\//, '')), `bin ${b} missing`);
    const bad = files.filter((f) => /\.test\.|\.map$|^dist\/testing\/|kit\.|logcraft|testutil|fuzzcases|fixture|^dist\/demo\/|compliance-|\/sim\.|^src\/|^testdata\/|bdb-dumps|\.dump$/.test(f));
    assert.deepEqual(bad, [], 'tests, test support (testing/), kits, fixtures, test data, demo, source maps or sources in the tarball');
  });

  await t.test('every module in the tarball imports only builtins, abstract-level, or files in the tarball', () => {
    const inPack = new Set(files);
    const builtins = new Set(builtinModules);
    const problems: string[] = [];
    let checked = 0;
    for (const f of files.filter((p) => p.endsWith('.js'))) {
      const specs = importsOf(fs.readFileSync(path.join(root, f), 'utf8'));
      for (const spec of specs) {
        checked++;
        if (spec.startsWith('.')) {
          if (spec.includes('${')) continue; // cli/main.ts's `./${name}.js`: checked by the bins below
          const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), spec));
          if (!inPack.has(target)) problems.push(`${f} imports ${spec}, which is not in the tarball`);
        } else if (!(spec.startsWith('node:') ? builtins.has(spec.slice(5)) : builtins.has(spec)) && spec !== 'abstract-level') {
          problems.push(`${f} imports the package ${spec}`);
        }
      }
    }
    assert.ok(checked > 100, `only ${checked} imports found: the scan is broken`);
    assert.deepEqual(problems, []);
  });

  await t.test('nothing in the tarball imports test support (testing/)', () => {
    // Relative specifiers resolved from each shipped file; a template's static prefix counts.
    const intoTesting = (f: string, spec: string): boolean =>
      spec.startsWith('.') && path.posix.normalize(path.posix.join(path.posix.dirname(f), spec.split('${')[0]!)).startsWith('dist/testing/');
    // The scan finds such imports where they exist: the tests import testing/ (and do not ship).
    const sample = 'dist/backup/hotbackup.test.js';
    assert.ok(importsOf(fs.readFileSync(path.join(root, sample), 'utf8')).some((s) => intoTesting(sample, s)), `no import of testing/ found in ${sample}: the scan is broken`);
    const shipped = files.filter((p) => p.endsWith('.js') && p.startsWith('dist/'));
    assert.ok(shipped.length > 50, `only ${shipped.length} shipped modules`);
    const hits = shipped.flatMap((f) => importsOf(fs.readFileSync(path.join(root, f), 'utf8')).filter((s) => intoTesting(f, s)).map((s) => `${f} imports ${s}`));
    assert.deepEqual(hits, [], 'shipped modules import test support');
  });

  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  sh('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tgz], app);
  // abstract-level (an optional peer) from this checkout, for 'cairndb/level'.
  fs.symlinkSync(path.join(root, 'node_modules', 'abstract-level'), path.join(app, 'node_modules', 'abstract-level'), 'dir');
  const home = path.join(tmp, 'env');

  await t.test('ESM: import from cairndb and cairndb/level', () => {
    fs.writeFileSync(
      path.join(app, 'esm.mjs'),
      `import { Environment } from 'cairndb';
import { CairnLevel } from 'cairndb/level';
const env = await Environment.open(process.argv[2], { create: true });
const db = await env.openDatabase('a.db', { create: true });
await db.put('k', 'esm');
console.log(db.get('k').toString(), typeof CairnLevel);
await env.close();`,
    );
    assert.equal(sh(process.execPath, ['esm.mjs', home], app).trim(), 'esm function');
  });

  await t.test('CommonJS: require(cairndb) on the declared minimum Node', () => {
    fs.writeFileSync(
      path.join(app, 'cjs.cjs'),
      `const { Environment } = require('cairndb');
const { CairnLevel } = require('cairndb/level');
(async () => {
  const env = await Environment.open(process.argv[2], { create: true });
  const db = await env.openDatabase('a.db', { create: true });
  console.log(db.get('k').toString(), typeof CairnLevel);
  await db.put('k', 'cjs');
  await env.close();
})().catch((e) => { console.error(e); process.exit(1); });`,
    );
    assert.equal(sh(process.execPath, ['cjs.cjs', home], app).trim(), 'esm function');
    assert.match(pkg.engines.node, /^>=20\.19\.\d+$/, 'require() of an ES module is on by default from Node 20.19: engines must say so');
  });

  await t.test('strict TypeScript (ESM and CommonJS) type-checks against the published declarations', () => {
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [path.join(root, 'node_modules', '@types')],
        },
        files: ['app.ts', 'app.cts'],
      }),
    );
    fs.writeFileSync(
      path.join(app, 'app.ts'),
      `import { Environment, CairnError, type Transaction } from 'cairndb';
import { CairnLevel } from 'cairndb/level';
const env: Environment = await Environment.open('./env', { create: true, durability: 'sync' });
const db = await env.openDatabase('app.db', { create: true });
await env.transaction(async (txn: Transaction) => { db.put('a', 'b', txn); });
const v: Buffer | undefined = db.get('a');
for (const [k, val] of db.range({ prefix: 'a' })) console.log(k.length + val.length);
try { await env.close(); } catch (e) { if (e instanceof CairnError) console.log(e.code); }
console.log(v, typeof CairnLevel);
`,
    );
    fs.writeFileSync(
      path.join(app, 'app.cts'),
      `import cairn = require('cairndb');
async function main(): Promise<void> {
  const env = await cairn.Environment.open('./env2', { create: true });
  await env.close();
}
void main();
`,
    );
    sh(process.execPath, [tscJs, '-p', 'tsconfig.json'], app);
    // The check can fail: a wrong type is reported.
    fs.writeFileSync(path.join(app, 'app.cts'), `import cairn = require('cairndb');\nconst n: number = cairn.Environment;\nvoid n;\n`);
    const r = spawnSync(process.execPath, [tscJs, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /app\.cts.*error TS2322/);
  });

  await t.test("every bin answers --help and -V from the installed package", () => {
    const bins = path.join(app, 'node_modules', '.bin');
    for (const name of Object.keys(pkg.bin)) {
      const help = sh(path.join(bins, name), ['--help'], app);
      assert.match(help, /^usage: /, `${name} --help`);
      const version = sh(path.join(bins, name), ['-V'], app);
      assert.ok(version.includes(pkg.version), `${name} -V printed ${version}`);
    }
  });

  await t.test('the installed package holds no planted bug and no switch for one', () => {
    const dist = path.join(app, 'node_modules', pkg.name, 'dist');
    const js: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name));
        else if (e.name.endsWith('.js')) js.push(path.join(d, e.name));
      }
    };
    walk(dist);
    assert.ok(js.length > 50, `${js.length} .js files`);
    const switches = js.filter((f) => /CAIRN_PLANT|planted\(/.test(fs.readFileSync(f, 'utf8')));
    assert.deepEqual(switches, [], 'plants are applied to a build copy by scripts/planted.mjs only');
    // The fsync the log-skip-fsync plant would drop is plain code in what ships.
    assert.match(fs.readFileSync(path.join(dist, 'log', 'writer.js'), 'utf8'), /^\s*this\.handle\.sync\(\); \/\/ PLANT\(log-skip-fsync\):$/m);
  });
});

test('the repository is self-contained: no source, script or bench file names a path outside it', () => {
  const hits: string[] = [];
  let scanned = 0;
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'results') walk(p);
      } else if (/\.(ts|mjs|js|sh|json)$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        scanned++;
        const text = fs.readFileSync(p, 'utf8');
        // Comments too: a clone has nothing beside it to look things up in either.
        for (const line of text.split('\n')) {
          if (/\.\.\/shared\b|\/work\/shared|['"`]\/work\//.test(line)) hits.push(`${path.relative(root, p)}: ${line.trim()}`);
        }
      }
    }
  };
  for (const d of ['src', 'scripts', 'bench', 'bin', '.ci', 'testdata']) if (fs.existsSync(path.join(root, d))) walk(path.join(root, d));
  assert.ok(scanned > 100, `only ${scanned} files scanned`);
  assert.deepEqual(hits, []);
});
