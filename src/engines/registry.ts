import { NotSupportedError } from "../errors.js";
import type { TargetType } from "../repo/snapshot.js";
import type { Engine, TargetSpec } from "./engine.js";
import { filesEngine } from "./files/index.js";

const ENGINES: Partial<Record<TargetType, Engine>> = {
  files: filesEngine,
};

/** The engine for a target type; a clear error for types whose engine is not built yet. */
export function engineFor(target: TargetSpec): Engine {
  const engine = ENGINES[target.type];
  if (!engine) {
    throw new NotSupportedError(
      `target "${target.name}": type ${target.type} is not supported yet by this version of prs-backup (only files targets are)`,
    );
  }
  return engine;
}
