import type { ChunkerParams } from "../../repo/chunker.js";

/** The parts of a `postgres` target's configuration that the engine uses. */
export interface PostgresTarget {
  readonly name: string;
  readonly type: "postgres";
  readonly connection: {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly database: string;
    readonly passwordEnv?: string;
    readonly passwordFile?: string;
    readonly sslmode?: string;
  };
  /** Directory of pg_dump, pg_dumpall, pg_restore, psql. Default: found on PATH (or in the container). */
  readonly binDir?: string;
  /** Argv prefix that runs the tools inside a container, e.g. `[docker, exec, -i, NAME]`. */
  readonly exec?: readonly string[];
  /** Parallel pg_restore jobs. */
  readonly jobs: number;
  /** pg_restore sessions sharing a streamed restore's table data. */
  readonly restoreSessions: number;
  /** Worker threads that hash and compress the dump. */
  readonly threads: number;
  readonly chunking?: Readonly<ChunkerParams>;
}
