// The public API's declarations as a user's editor and compiler see them (issue 22): every
// exported symbol and public member documented, internals absent, the strictest TypeScript
// settings accepted for the common patterns, and promise-returning calls that never throw.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Environment, CairnError } from './index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entries = [path.join(root, 'dist', 'index.d.ts'), path.join(root, 'dist', 'level', 'index.d.ts')];

let walked: Array<{ name: string; documented: boolean }> | undefined;

/** Every exported declaration and public member of the package's entry points, with whether it has JSDoc. */
function publicSymbols(): Array<{ name: string; documented: boolean }> {
  return (walked ??= walk());
}

function walk(): Array<{ name: string; documented: boolean }> {
  const program = ts.createProgram(entries, { strict: true, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')] });
  const checker = program.getTypeChecker();
  const out: Array<{ name: string; documented: boolean }> = [];
  const documented = (d: ts.Node): boolean => ts.getJSDocCommentsAndTags(d).length > 0;
  for (const entry of entries) {
    const mod = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
    for (const exported of checker.getExportsOfModule(mod)) {
      const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      for (const d of sym.declarations ?? []) {
        out.push({ name: exported.name, documented: documented(d) });
        const members = ts.isClassDeclaration(d) || ts.isInterfaceDeclaration(d) ? d.members : ts.isTypeAliasDeclaration(d) && ts.isTypeLiteralNode(d.type) ? d.type.members : [];
        for (const m of members) {
          if (ts.getCombinedModifierFlags(m as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
          const name = m.name !== undefined ? m.name.getText() : ts.SyntaxKind[m.kind];
          out.push({ name: `${exported.name}.${name}`, documented: documented(m) });
        }
      }
    }
  }
  return out;
}

test('every exported symbol and public member of cairndb and cairndb/level has JSDoc', () => {
  const all = publicSymbols();
  assert.ok(all.length > 150, `only ${all.length} public symbols found: the walk is broken`);
  assert.deepEqual(all.filter((s) => !s.documented).map((s) => s.name), []);
});

test('internals are not in the published declarations', () => {
  const names = new Set(publicSymbols().map((s) => s.name));
  for (const internal of [
    'Transaction.seq', 'Transaction.state', 'Transaction.files', 'Transaction.ops', 'Transaction.reader', 'Transaction.writer',
    'Transaction.apply', 'Transaction.rebase', 'Transaction.release', 'Transaction.commitNow', 'Transaction.pagesStillCurrent',
    'Environment.pager', 'Environment.pinLogs', 'Environment.checkUsable', 'Environment.autoCommit', 'Environment.commitTxn',
    'Environment.endTxn', 'Database.descriptor', 'Database.file', 'Database.tree',
  ]) {
    assert.ok(!names.has(internal), `${internal} is public`);
  }
  // The walk does see what is public.
  for (const pub of ['Transaction.commit', 'Transaction.abort', 'Environment.open', 'Database.put', 'CorruptionError.offset']) assert.ok(names.has(pub), `${pub} missing`);
});

test('strict TypeScript: an optional transaction, options set to undefined; internals do not compile', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-api-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'cairndb'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  const config = {
    compilerOptions: {
      strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, module: 'NodeNext', moduleResolution: 'NodeNext',
      target: 'ES2022', noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
    },
    files: ['ok.ts'],
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
  fs.writeFileSync(
    path.join(dir, 'ok.ts'),
    `import { Environment, type Database, type Transaction, type Durability, type RangeOptions } from 'cairndb';
// A repository helper that works inside a transaction or on its own.
async function save(db: Database, k: string, v: string, txn?: Transaction): Promise<void> {
  await db.put(k, v, txn);
  await db.del(k + '-old', txn);
}
function begin(env: Environment, durability?: Durability, readOnly?: boolean): Transaction {
  return env.begin({ durability, readOnly });
}
async function run(env: Environment, db: Database, durability?: Durability, limit?: number): Promise<void> {
  await env.transaction((txn) => save(db, 'a', 'b', txn), { durability });
  const txn = begin(env, durability);
  await txn.commit({ durability });
  const range: RangeOptions = { gte: 'a', limit, reverse: undefined };
  for (const [k] of db.range(range)) void k;
  const env2 = await Environment.open('x', { create: true, cacheSize: undefined, durability });
  await env2.close();
}
void save; void run;
`,
  );
  // What used to compile and then dropped a write: release() before commit().
  fs.writeFileSync(path.join(dir, 'bad.ts'), `import type { Transaction } from 'cairndb';\nexport async function f(t: Transaction): Promise<void> { t.release(); t.seq = 0; await t.commit(); }\n`);
  // One program for both files (a no-skipLibCheck program is slow to build): ok.ts must have no
  // diagnostic, bad.ts exactly the two.
  const parsed = ts.parseJsonConfigFileContent({ ...config, files: ['ok.ts', 'bad.ts'] }, ts.sys, dir);
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => `${d.file !== undefined ? path.basename(d.file.fileName) : '-'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  assert.deepEqual(diagnostics.filter((d) => !d.startsWith('bad.ts')), []);
  assert.deepEqual(diagnostics.filter((d) => d.startsWith('bad.ts')).sort(), [
    "bad.ts: Property 'release' does not exist on type 'Transaction'.",
    "bad.ts: Property 'seq' does not exist on type 'Transaction'.",
  ]);
});

test('a promise-returning call never throws synchronously: bad input and a closed handle reject', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-api-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = await Environment.open(path.join(dir, 'env'), { create: true });
  const db = await env.openDatabase('a.db', { create: true });
  const calls: Array<[string, () => Promise<unknown>, string]> = [
    ['put with a 70 KiB key', () => db.put(Buffer.alloc(70 * 1024), 'v'), 'TOO_LARGE'],
    ['put with a number key', () => db.put(42 as unknown as string, 'v'), 'INVALID_ARGUMENT'],
    ['del with a null key', () => db.del(null as unknown as string), 'INVALID_ARGUMENT'],
  ];
  for (const [what, call, code] of calls) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => (p = call()), what);
    await assert.rejects(p!, (e: unknown) => e instanceof CairnError && e.code === code, what);
  }
  await db.put('k', 'v');
  await env.close();
  for (const [what, call] of [
    ['put after close', () => db.put('k', 'v')],
    ['del after close', () => db.del('k')],
    ['truncate after close', () => db.truncate()],
  ] as Array<[string, () => Promise<unknown>]>) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => (p = call()), what);
    await assert.rejects(p!, (e: unknown) => e instanceof CairnError && e.code === 'CLOSED', what);
  }
});
