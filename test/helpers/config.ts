import fs from "node:fs/promises";
import path from "node:path";

export interface FilesTargetSpec {
  type?: "files";
  paths: string[];
  include?: string[];
  exclude?: string[];
  retention?: Record<string, number>;
}

export interface ConfigSpec {
  repository: string;
  targets: Record<string, FilesTargetSpec | Record<string, unknown>>;
  /** Extra top-level keys (log, services…). */
  extra?: Record<string, unknown>;
}

/**
 * Writes a config file and returns its path. JSON is valid YAML, so the file is written
 * as JSON under a `.yaml` name: exact quoting for any path, with no YAML serializer needed.
 */
export async function writeConfig(file: string, spec: ConfigSpec): Promise<string> {
  const targets = Object.fromEntries(
    Object.entries(spec.targets).map(([name, t]) => [name, { type: "files", retention: { days: 30 }, ...t }]),
  );
  const doc = { repository: { path: spec.repository, lockTimeoutSeconds: 60 }, targets, ...spec.extra };
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
