/** A result still being worked out: its value (or failure) once `done`. */
class Later<T> {
  done = false;
  failed = false;
  value: T | undefined;
  failure: unknown;
  readonly settled: Promise<void>;

  constructor(promise: Promise<T>) {
    this.settled = promise.then(
      (value) => {
        this.value = value;
        this.done = true;
      },
      (err: unknown) => {
        this.failure = err;
        this.failed = true;
        this.done = true;
      },
    );
  }
}

export interface OrderedQueueLimits {
  /** Results still being worked out at once. */
  later: number;
  /** Results held in all, known or not: those known wait behind the first that is not. */
  held: number;
}

/**
 * Hands results to `consume` in the order they were pushed. Most are known when pushed
 * (an unchanged file's entry) and pass straight through, without a promise; the others
 * (a file being read) are held, and so is everything pushed after them, up to `limits`.
 * `push` returns a promise only when the caller must wait: a promise per entry cost a
 * re-snapshot more CPU than its lstat calls.
 */
export class OrderedQueue<T> {
  readonly #consume: (value: T) => Promise<void> | undefined;
  readonly #limits: OrderedQueueLimits;
  #items: (T | Later<T>)[] = [];
  #head = 0;
  #later = 0;
  /** The pass waiting for a result or for consume, if any. */
  #running: Promise<void> | undefined;

  constructor(consume: (value: T) => Promise<void> | undefined, limits: OrderedQueueLimits) {
    this.#consume = consume;
    this.#limits = limits;
  }

  /** Adds a result; a promise when the caller must wait before pushing more. */
  push(value: T | Promise<T>): Promise<void> | undefined {
    if (value instanceof Promise) {
      this.#items.push(new Later(value));
      this.#later += 1;
    } else this.#items.push(value);
    // One pass at a time: a result is never consumed while consume's promise for the one
    // before it is pending.
    return this.#running ?? this.#start(false);
  }

  /** Waits until every result pushed is consumed. */
  async finish(): Promise<void> {
    while (this.#running) await this.#running;
    await this.#start(true);
  }

  #start(all: boolean): Promise<void> | undefined {
    const waiting = this.#pass(all);
    if (!waiting) return undefined;
    const running = waiting.finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  /** Consumes what it can without waiting; a promise of the rest when it must wait. */
  #pass(all: boolean): Promise<void> | undefined {
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head]!;
      let value: T;
      if (item instanceof Later) {
        if (!item.done) {
          const full =
            this.#later > this.#limits.later || this.#items.length - this.#head > this.#limits.held;
          return all || full ? item.settled.then(() => this.#pass(all)) : undefined;
        }
        this.#later -= 1;
        if (item.failed) throw item.failure;
        value = item.value as T;
      } else value = item;
      this.#head += 1;
      this.#compact();
      const consumed = this.#consume(value);
      if (consumed) return consumed.then(() => this.#pass(all));
    }
    return undefined;
  }

  #compact(): void {
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
