import path from "node:path";
import type * as z from "zod";
import { defaultChunking, defaultsForTarget } from "./defaults.js";
import type { ConfigDraft, TargetDraft, configSchema } from "./schema.js";
import type { targetSchema } from "./target-schema.js";

type ParsedConfig = z.output<typeof configSchema>;
type ParsedTarget = z.output<typeof targetSchema>;

/**
 * Turns schema output into the configuration the program uses: every relative path made
 * absolute against `baseDir` (the config file's directory, so the meaning of a path does not
 * depend on where the command was started), schedule, retention and chunking defaulted, and
 * each target given its `name`. Pure: reads no files and no environment.
 */
export function normalizeConfig(parsed: ParsedConfig, baseDir: string): ConfigDraft {
  const resolve = (p: string): string => path.resolve(baseDir, p);
  const config = structuredClone(parsed);
  const { repository, log } = config;
  if (repository.path !== undefined) repository.path = resolve(repository.path);
  if (repository.tempDirectory !== undefined) repository.tempDirectory = resolve(repository.tempDirectory);
  if (repository.cacheDirectory !== undefined) repository.cacheDirectory = resolve(repository.cacheDirectory);
  if (log.file !== undefined) log.file = resolve(log.file);
  const targets = Object.fromEntries(
    Object.entries(config.targets).map(([name, target]) => [name, normalizeTarget(name, target, resolve)]),
  );
  return { ...config, targets };
}

function normalizeTarget(name: string, target: ParsedTarget, resolve: (p: string) => string): TargetDraft {
  const defaults = defaultsForTarget(name, target.type);
  const draft: TargetDraft = {
    name,
    ...target,
    schedule: target.schedule ?? defaults.schedule,
    retention: target.retention ?? { ...defaults.retention },
    chunking: { ...defaultChunking(target.type), ...target.chunking },
  };
  switch (draft.type) {
    case "files":
      draft.paths = draft.paths.map(resolve);
      break;
    case "postgres":
    case "postgres-physical":
      if (draft.connection.passwordFile !== undefined) {
        draft.connection.passwordFile = resolve(draft.connection.passwordFile);
      }
      if (draft.type === "postgres-physical") draft.dataDirectory = resolve(draft.dataDirectory);
      break;
    case "redis":
      if (draft.passwordFile !== undefined) draft.passwordFile = resolve(draft.passwordFile);
      if (draft.dataDirectory !== undefined) draft.dataDirectory = resolve(draft.dataDirectory);
      break;
  }
  return draft;
}
