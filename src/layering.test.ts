// The layering of src/ (docs/DESIGN.md), checked on every import the TypeScript compiler sees:
// static imports and re-exports (type-only ones too) and dynamic import().
//
//   (a) an import goes down or sideways only: util, io, log, page, btree, txn, recovery, env,
//       backup, dump, tools, cli, then src/index.ts (the public API), level, demo. testing/ may
//       import anything; only tests and testing/ may import testing/. *.test.ts files may import
//       upward (integration tests).
//   (b) no cycle between folders, nor between files through imports that load a module (type-only
//       imports are erased by the compiler; tests and testing/ left out);
//   (c) node:fs only in io/ and cli/ (tests and testing/ excepted).
//
// ALLOWED lists the violations being removed now; each names its file and import, and an entry
// that matches nothing fails the test, so the list only shrinks.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const LAYERS = ['util', 'io', 'log', 'page', 'btree', 'txn', 'recovery', 'env', 'backup', 'dump', 'tools', 'cli', 'index.ts', 'level', 'demo'];
// The programs (cli/, demo/) work on real directories; the engine only through the Vfs (io/).
const FS_FOLDERS = new Set(['io', 'cli', 'demo']);

/** One import: `file` (relative to src/, '/'-separated) line `line` imports `spec`; `target` is the src file it names, if any. */
interface Edge {
  file: string;
  line: number;
  spec: string;
  target: string | undefined;
  /** Erased by the compiler (`import type`, `export type`, an `import('…')` type): no load-time dependency. */
  typeOnly: boolean;
}

/** A violation, as printed; `file` and `spec` are what an ALLOWED entry matches. */
interface Violation {
  file: string;
  spec: string;
  text: string;
}

/** Violations other changes are removing now (issue 15): each is the importing file and the import as written. */
const ALLOWED: Array<{ file: string; spec: string; why: string }> = [];

function unitOf(file: string): string {
  const i = file.indexOf('/');
  return i < 0 ? file : file.slice(0, i);
}

const isTest = (file: string): boolean => file.endsWith('.test.ts');
const isTesting = (file: string): boolean => unitOf(file) === 'testing';

/** Whether an import or export declaration is erased by the compiler (type-only as a whole or in every name). */
function erased(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) return node.isTypeOnly || (node.exportClause !== undefined && ts.isNamedExports(node.exportClause) && node.exportClause.elements.every((e) => e.isTypeOnly));
  const clause = node.importClause;
  if (clause === undefined) return false; // import './x.js': run for its effects
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const b = clause.namedBindings;
  return b !== undefined && ts.isNamedImports(b) && b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly);
}

/** Every import of one source file. */
export function importsOf(file: string, text: string): Edge[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Edge[] = [];
  const add = (node: ts.Node, spec: string, prefixOnly: boolean, typeOnly = false): void => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    let target: string | undefined;
    if (spec.startsWith('.')) {
      const joined = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      target = prefixOnly ? joined : joined.replace(/\.js$/, '.ts');
    }
    out.push({ file, line, spec, target, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node, node.moduleSpecifier.text, false, erased(node));
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      add(node, node.moduleReference.expression.text, false);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments.length > 0) {
      const a = node.arguments[0]!;
      if (ts.isStringLiteral(a) || ts.isNoSubstitutionTemplateLiteral(a)) add(node, a.text, false);
      // import(`../cli/${tool}.js`): the folder is in the literal head.
      else if (ts.isTemplateExpression(a)) add(node, `${a.head.text}*`, true);
      else add(node, '<computed>', true);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node, node.argument.literal.text, false, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The layer rank of a src file or folder; undefined for testing/ and top-level tests. */
function rank(file: string): number | undefined {
  const r = LAYERS.indexOf(unitOf(file));
  return r < 0 ? undefined : r;
}

/** Every cycle in `graph` (node → its successors), each once, as its nodes from the smallest. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  // Tarjan's strongly connected components; a component of more than one node has a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  return out;
}

/** The violations among `sources` (path relative to src/ → text). */
export function violations(sources: Map<string, string>): Violation[] {
  const out: Violation[] = [];
  const edges = [...sources].flatMap(([file, text]) => importsOf(file, text));
  const folderGraph = new Map<string, Set<string>>();
  const fileGraph = new Map<string, Set<string>>();
  const folderEdge = new Map<string, Edge>(); // an example import for each folder edge
  for (const e of edges) {
    const where = `${e.file}:${e.line} imports ${e.spec}`;
    const test = isTest(e.file);
    const testing = isTesting(e.file);
    if (e.spec === 'fs' || e.spec === 'node:fs' || e.spec === 'fs/promises' || e.spec === 'node:fs/promises') {
      if (!test && !testing && !FS_FOLDERS.has(unitOf(e.file))) out.push({ file: e.file, spec: e.spec, text: `${where} (node:fs outside io/ and cli/)` });
      continue;
    }
    if (e.target === undefined) continue;
    if (e.target.startsWith('..')) {
      out.push({ file: e.file, spec: e.spec, text: `${where} (outside src/)` });
      continue;
    }
    const from = unitOf(e.file);
    const to = unitOf(e.target);
    if (isTesting(e.target) && !test && !testing) {
      out.push({ file: e.file, spec: e.spec, text: `${where} (only tests and testing/ import testing/)` });
      continue;
    }
    if (test || testing) continue;
    const rf = rank(e.file);
    const rt = rank(e.target);
    if (rf !== undefined && rt !== undefined && rt > rf) out.push({ file: e.file, spec: e.spec, text: `${where} (upward: ${from} is below ${to})` });
    if (from !== to) {
      if (!folderGraph.has(from)) folderGraph.set(from, new Set());
      folderGraph.get(from)!.add(to);
      if (!folderEdge.has(`${from}>${to}`)) folderEdge.set(`${from}>${to}`, e);
    }
    // Files may refer to each other's types (a subsystem to the facade it serves): only imports
    // that load a module can make a load-order cycle.
    if (sources.has(e.target) && !e.typeOnly) {
      if (!fileGraph.has(e.file)) fileGraph.set(e.file, new Set());
      fileGraph.get(e.file)!.add(e.target);
    }
  }
  // A cycle is named by the imports in it that go up a layer (those are what to remove); a cycle
  // inside one folder, by all its imports.
  const up = (from: string, to: string): boolean => (rank(to) ?? -1) > (rank(from) ?? -1);
  for (const c of cycles(folderGraph)) {
    for (const from of c) {
      for (const to of folderGraph.get(from)!) {
        if (!c.includes(to) || !up(from, to)) continue;
        const e = folderEdge.get(`${from}>${to}`)!;
        out.push({ file: e.file, spec: e.spec, text: `${e.file}:${e.line} imports ${e.spec} (cycle between folders ${c.join(', ')})` });
      }
    }
  }
  for (const c of cycles(fileGraph)) {
    const inCycle = edges.filter((x) => c.includes(x.file) && x.target !== undefined && c.includes(x.target) && !x.typeOnly && !isTest(x.file) && !isTesting(x.file));
    const named = inCycle.some((x) => up(x.file, x.target!)) ? inCycle.filter((x) => up(x.file, x.target!)) : inCycle;
    for (const e of named) out.push({ file: e.file, spec: e.spec, text: `${e.file}:${e.line} imports ${e.spec} (cycle between files ${c.join(', ')})` });
  }
  return out;
}

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

function readSources(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.name.endsWith('.ts') && !ent.name.endsWith('.d.ts')) out.set(path.relative(SRC, p).split(path.sep).join('/'), fs.readFileSync(p, 'utf8'));
    }
  };
  walk(SRC);
  return out;
}

test('src/ keeps its layering: imports go down, no cycles, node:fs only in io/ and cli/', () => {
  const sources = readSources();
  assert.ok(sources.size > 100 && sources.has('index.ts'), `src/ found at ${SRC}`);
  const found = violations(sources);
  const unexpected = found.filter((v) => !ALLOWED.some((a) => a.file === v.file && a.spec === v.spec));
  const stale = ALLOWED.filter((a) => !found.some((v) => a.file === v.file && a.spec === v.spec));
  const report = [
    ...unexpected.map((v) => v.text),
    ...stale.map((a) => `allow-list entry ${a.file} imports ${a.spec} matches nothing any more: remove it from ALLOWED in src/layering.test.ts`),
  ];
  assert.equal(report.length, 0, `layering violations:\n${report.join('\n')}`);
});

test('the checker finds a planted upward import, a cycle, node:fs outside io/, an import of testing/', () => {
  const src = new Map([
    ['util/a.ts', "import { b } from '../env/b.js';\nexport const a = 1;\n"],
    ['env/b.ts', "import * as fs from 'node:fs';\nimport { a } from '../util/a.js';\nexport const b = await import('./c.js');\n"],
    ['env/c.ts', "export type T = import('./b.js').X;\nimport '../testing/kit.js';\n"],
    ['env/b.test.ts', "import * as fs from 'node:fs';\nimport '../cli/x.js';\nimport '../testing/kit.js';\n"],
    ['testing/kit.ts', "import * as fs from 'node:fs';\nimport '../cli/x.js';\n"],
    ['cli/x.ts', "import * as fs from 'node:fs';\nimport '../util/a.js';\nconst m = await import(`../demo/${'y'}.js`);\n"],
    ['log/p.ts', "import { Q } from './q.js';\n"],
    ['log/q.ts', "export { P } from './p.js';\n"],
    // A cycle of types only is erased by the compiler: not reported.
    ['log/r.ts', "import type { S } from './s.js';\nexport const r = 1;\n"],
    ['log/s.ts', "import { type R } from './r.js';\nexport type S = R;\n"],
  ]);
  const texts = violations(src).map((v) => v.text);
  for (const want of [
    'util/a.ts:1 imports ../env/b.js (upward: util is below env)',
    'env/b.ts:1 imports node:fs (node:fs outside io/ and cli/)',
    'env/c.ts:2 imports ../testing/kit.js (only tests and testing/ import testing/)',
    'cli/x.ts:3 imports ../demo/* (upward: cli is below demo)',
    'util/a.ts:1 imports ../env/b.js (cycle between folders env, util)',
    'util/a.ts:1 imports ../env/b.js (cycle between files env/b.ts, util/a.ts)',
    'log/p.ts:1 imports ./q.js (cycle between files log/p.ts, log/q.ts)',
    'log/q.ts:1 imports ./p.js (cycle between files log/p.ts, log/q.ts)',
  ]) {
    assert.ok(texts.includes(want), `missing: ${want}\nfound:\n${texts.join('\n')}`);
  }
  assert.ok(!texts.some((t) => t.startsWith('env/b.test.ts') || t.startsWith('testing/') || t.includes('cli/x.ts:1') || t.startsWith('log/r.ts') || t.startsWith('log/s.ts')), texts.join('\n'));
});
