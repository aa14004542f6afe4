// The one switch for expensive self-checks (DESIGN.md "Self-checks"): CAIRN_CHECKS=<name>[,<name>...]
// or CAIRN_CHECKS=all. Read once at load; with the variable unset every check is a constant
// `false` field test. The checks only verify (they throw an AssertionError on a bug) or, for
// `arena`, trade speed for detection; none of them changes what is written or acknowledged, so
// no setting of this switch can weaken durability. Cheap invariants are asserted always, where
// they are enforced (src/util/assert.ts), not here.

/** Every expensive check, with what it does. */
export const CHECKS = {
  arena: 'page buffers that would be recycled are poisoned instead, so a stale reference reads garbage (page/arena.ts)',
  deltas: "every commit's range-built page deltas are compared with a whole-page diff (btree/ranges.ts)",
  strict: 'every commit verifies the trees it changed, in full, before it resolves (txn/commit.ts)',
} as const;

export type CheckName = keyof typeof CHECKS;

function parse(spec: string): ReadonlySet<CheckName> {
  const names = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.includes('all')) return new Set(Object.keys(CHECKS) as CheckName[]);
  const unknown = names.filter((n) => !(n in CHECKS));
  if (unknown.length > 0) {
    process.emitWarning(`CAIRN_CHECKS: unknown check ${unknown.join(', ')} ignored (known: ${Object.keys(CHECKS).join(', ')}, all)`, { code: 'CAIRN_CHECKS_UNKNOWN' });
  }
  return new Set(names.filter((n): n is CheckName => n in CHECKS));
}

const enabled = parse(process.env['CAIRN_CHECKS'] ?? '');

/** Which expensive checks are on: set from CAIRN_CHECKS at load; tests may switch one for a while. */
export const checks: Record<CheckName, boolean> = {
  arena: enabled.has('arena'),
  deltas: enabled.has('deltas'),
  strict: enabled.has('strict'),
};
