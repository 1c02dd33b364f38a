/** Runs `fn` over items with bounded concurrency; rejects with the first failure. */
export async function forEachLimit<T>(
  items: Iterable<T>,
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await fn(next.value);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Calls `probe` every `intervalMs` until it returns something other than undefined, and
 * returns that. Once `timeoutMs` has passed, throws what `onTimeout` makes. A probe that
 * throws ends the wait with its error.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs: number; onTimeout: () => Error },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw options.onTimeout();
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

/**
 * A budget of units (bytes in flight) shared by concurrent work: `acquire(n)` waits until
 * `n` fit (first come, first served; a request larger than the whole budget waits for
 * everything else to finish, then runs alone), `release(n)` gives them back.
 */
export class Budget {
  readonly #limit: number;
  #used = 0;
  readonly #waiting: { n: number; go: () => void }[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  async acquire(n: number): Promise<void> {
    if (this.#waiting.length === 0 && this.#fits(n)) {
      this.#used += n;
      return;
    }
    await new Promise<void>((go) => this.#waiting.push({ n, go }));
  }

  release(n: number): void {
    this.#used -= n;
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.n)) {
      const next = this.#waiting.shift()!;
      this.#used += next.n;
      next.go();
    }
  }

  #fits(n: number): boolean {
    return this.#used === 0 || this.#used + n <= this.#limit;
  }
}
