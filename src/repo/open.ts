import path from "node:path";
import { NotSupportedError } from "../errors.js";
import type { Backend } from "./backend.js";
import { LocalBackend } from "./backends/local.js";
import { Repository } from "./repository.js";

/** The repository part of the configuration that opening needs. */
export interface RepositorySpec {
  path?: string;
  s3?: unknown;
  compressionLevel?: number;
  cacheDirectory?: string;
}

/** The configured cache directory, else $XDG_CACHE_HOME/prs-backup or ~/.cache/prs-backup; none without either. */
export function cacheDirectoryFor(
  spec: RepositorySpec,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (spec.cacheDirectory !== undefined) return spec.cacheDirectory;
  const base = env["XDG_CACHE_HOME"] || (env["HOME"] ? path.join(env["HOME"], ".cache") : undefined);
  return base ? path.join(base, "prs-backup") : undefined;
}

/** The backend the configuration names. */
export function backendFor(spec: RepositorySpec): Backend {
  if (spec.path !== undefined) return new LocalBackend(spec.path);
  throw new NotSupportedError(
    "repository.s3: S3-compatible repositories are not supported yet; use repository.path",
  );
}

/** Opens the configured repository (it must have been created with `prs-backup init`). */
export function openRepository(spec: RepositorySpec): Promise<Repository> {
  return Repository.open(backendFor(spec), {
    compressionLevel: spec.compressionLevel,
    cacheDirectory: cacheDirectoryFor(spec),
  });
}

/** Creates the configured repository unless it exists. */
export function initRepository(spec: RepositorySpec): Promise<{ repo: Repository; created: boolean }> {
  return Repository.init(backendFor(spec), { compressionLevel: spec.compressionLevel });
}
