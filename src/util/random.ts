// Seeded pseudo-random numbers for simulation and crash tests (reliability.md §9: everything
// randomised takes a seed, prints it on failure and replays exactly).
//
// mulberry32: 32 bits of state, period 2^32, good enough to pick crash outcomes and workloads.
// Never used for anything secret; the engine itself uses node:crypto for ids.

/** A generator of uniform numbers in [0, 1), fully determined by `seed` (taken modulo 2^32). */
export function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randInt(r: () => number, n: number): number {
  return Math.floor(r() * n);
}

/** n uniform random bytes. */
export function randBytes(r: () => number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = randInt(r, 256);
  return out;
}

/**
 * The seeds a randomised test runs: only CAIRN_SEED when that environment variable is set (to
 * replay a failure), else `count` consecutive seeds from `base`.
 */
export function testSeeds(count: number, base = 1): number[] {
  const fromEnv = process.env['CAIRN_SEED'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed)) throw new RangeError(`CAIRN_SEED must be an integer: ${fromEnv}`);
    return [seed];
  }
  return Array.from({ length: count }, (_, i) => base + i);
}
