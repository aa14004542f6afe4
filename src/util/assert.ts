// Assertions guard invariants that only a bug can break; conditions get typed errors instead.

export class AssertionError extends Error {
  constructor(message: string) {
    super(`cairn internal assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
