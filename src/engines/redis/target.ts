import type { ChunkerParams } from "../../repo/chunker.js";

/** The parts of a `redis` target's configuration that the engine uses. */
export interface RedisTarget {
  readonly name: string;
  readonly type: "redis";
  /** `redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS). */
  readonly url: string;
  readonly username?: string;
  readonly passwordEnv?: string;
  readonly passwordFile?: string;
  /** The Redis data directory as seen from this host (dump.rdb, appendonlydir). */
  readonly dataDirectory?: string;
  readonly binDir?: string;
  readonly stopCommand?: readonly string[];
  readonly startCommand?: readonly string[];
  readonly chunking?: Readonly<ChunkerParams>;
}
