import type { Config } from "../../config/index.js";
import { NotSupportedError, UsageError } from "../../errors.js";
import { WalArchive } from "./wal-archive.js";

/**
 * The WAL archive a `wal push` / `wal fetch` names: `--target NAME`, or the config's only
 * postgres-physical target. Shared by the full CLI and the lean `wal-main.js` entry.
 */
export function walArchiveFor(config: Config, name: string | undefined): WalArchive {
  if (config.repository.path === undefined) {
    throw new NotSupportedError("repository.s3: the WAL archive needs a local repository (repository.path)");
  }
  return new WalArchive(config.repository.path, pickTarget(config, name));
}

function pickTarget(config: Config, name: string | undefined): string {
  if (name !== undefined) {
    const t = config.targets[name];
    if (!t) {
      throw new UsageError(
        `unknown target "${name}": configured targets are ${Object.keys(config.targets).join(", ")}`,
      );
    }
    if (t.type !== "postgres-physical") {
      throw new UsageError(`target "${name}" is of type ${t.type}, not postgres-physical`);
    }
    return name;
  }
  const physical = Object.values(config.targets).filter((t) => t.type === "postgres-physical");
  if (physical.length !== 1) {
    throw new UsageError(
      physical.length === 0
        ? "no postgres-physical target in the config"
        : `several postgres-physical targets (${physical.map((t) => t.name).join(", ")}): pass --target NAME`,
    );
  }
  return physical[0]!.name;
}
