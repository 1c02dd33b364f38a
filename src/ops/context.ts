import type { Config, TargetConfig } from "../config/index.js";
import type { Logger } from "../util/logger.js";
import { UsageError } from "../errors.js";

/** What every operation gets: the loaded config and the process surroundings, injectable for tests. */
export interface OpContext {
  config: Config;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  /** A terminal to draw progress on, when there is one. */
  tty?: NodeJS.WriteStream;
  now?: () => Date;
}

/** The named targets, or every enabled one; unknown names are a usage error naming the configured ones. */
export function selectTargets(config: Config, names: readonly string[] | undefined): TargetConfig[] {
  const all = Object.values(config.targets);
  if (!names || names.length === 0) return all.filter((t) => t.enabled !== false);
  return names.map((name) => findTarget(config, name));
}

/** One configured target by name. */
export function findTarget(config: Config, name: string): TargetConfig {
  const target = config.targets[name];
  if (!target) {
    throw new UsageError(
      `unknown target "${name}": configured targets are ${Object.keys(config.targets).join(", ")}`,
    );
  }
  return target;
}

/** Milliseconds a command waits for a conflicting repository lock. */
export function lockTimeoutMs(config: Config): number {
  return (config.repository.lockTimeoutSeconds ?? 600) * 1000;
}
