import type { Readable } from "node:stream";

/** An object's bytes: one buffer, a string, or parts written one after another (no concatenation copy). */
export type ObjectData = Uint8Array | string | readonly Uint8Array[];

/** Total byte length of object data. */
export function dataLength(data: ObjectData): number {
  if (typeof data === "string") return Buffer.byteLength(data);
  if (data instanceof Uint8Array) return data.length;
  return data.reduce((n, part) => n + part.length, 0);
}

export interface PutOptions {
  ifAbsent?: boolean;
  deferred?: boolean;
}

/** One stored object, as a listing returns it. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Last modification time, where the backend knows it (ms since the epoch). */
  modifiedMs?: number;
}

/**
 * Where repository objects live. Keys are `/`-separated relative names
 * (`data/ab/abcd…`, `snapshots/<id>.json`). Every put is atomic: readers see the old
 * object or the whole new one, never a part. The interface needs no rename or hard
 * link, so an S3-compatible object store can implement it (conditional puts where
 * `ifAbsent` is asked for).
 */
export interface Backend {
  /** Human-readable location, for messages. */
  readonly location: string;
  /**
   * Stores `data` under `key` durably. With `ifAbsent`, returns false (and writes
   * nothing) when the key exists. With `deferred`, the object may stay invisible and
   * not durable until the next `flush()` — many small objects are made durable together
   * (one file-system sync instead of one fsync each).
   */
  put(key: string, data: ObjectData, options?: PutOptions): Promise<boolean>;
  /** Reads a whole object; throws NotFoundError when absent. */
  get(key: string): Promise<Buffer>;
  /**
   * Reads `length` bytes at `offset` of an object (a frame of a pack); throws NotFoundError
   * when absent. Only for objects that never change once written: a backend may keep them open.
   */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Streams an object; throws NotFoundError when absent. */
  getStream(key: string): Promise<Readable>;
  /** Size of the object, or undefined when absent. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Lists objects whose key starts with `prefix` (a folder such as `snapshots/`), in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Like list, without sizes: cheaper where sizes cost a request or a stat each. */
  listKeys(prefix: string): AsyncIterable<string>;
  /** Deletes an object; deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  /** Makes every put since the last flush durable and visible (deferred ones included). */
  flush(): Promise<void>;
  /** Removes temp objects of crashed writers older than `olderThanMs`; returns how many (where temps exist). */
  removeStaleTemps?(olderThanMs: number): Promise<number>;
  /**
   * A file path another thread may write object `key` to (its folder made); `adoptDeferred`
   * then takes that file as a deferred put. Only a backend on a local file system has it.
   */
  deferredTemp?(key: string): Promise<string>;
  /** Takes a file written to a path from `deferredTemp` as a deferred put of `key`. */
  adoptDeferred?(key: string, temp: string): void;
  /** Takes a file written to a path from `deferredTemp` as object `key` now, durably (a put). */
  adopt?(key: string, temp: string): Promise<void>;
  /** Free bytes where the repository lives, when the backend can tell. */
  freeBytes(): Promise<number | undefined>;
}

/** Thrown by get/getStream for a missing key. */
export class ObjectNotFoundError extends Error {
  readonly code = "ENOENT";
  constructor(readonly key: string) {
    super(`object ${key} not found`);
  }
}

/** Rejects keys that could escape the repository or that a backend cannot store. */
export function assertValidKey(key: string): void {
  if (
    key.length === 0 ||
    key.startsWith("/") ||
    key.endsWith("/") ||
    key.includes("\\") ||
    key.includes("\0") ||
    key.split("/").some((part) => part === "" || part === "." || part === "..")
  ) {
    throw new Error(`invalid repository key "${key}"`);
  }
}
