import { NotSupportedError } from "../errors.js";
import type { TargetType } from "../repo/snapshot.js";
import type { Engine, TargetSpec } from "./engine.js";

/**
 * Engines load on first use: each pulls in its own client libraries (pg, ioredis …),
 * and a command such as `wal push`, run by PostgreSQL for every WAL segment, must not
 * pay for the ones it does not need.
 */
const LOADERS: Partial<Record<TargetType, () => Promise<Engine>>> = {
  files: async () => (await import("./files/index.js")).filesEngine,
  postgres: async () => (await import("./postgres/index.js")).postgresEngine,
  "postgres-physical": async () => (await import("./postgres-physical/index.js")).postgresPhysicalEngine,
  redis: async () => (await import("./redis/index.js")).redisEngine,
};

/** The engine for a target type; a clear error for types whose engine is not built yet. */
export async function engineFor(target: TargetSpec): Promise<Engine> {
  const load = LOADERS[target.type];
  if (!load) {
    throw new NotSupportedError(
      `target "${target.name}": type ${target.type} is not supported yet by this version of prs-backup`,
    );
  }
  return load();
}
