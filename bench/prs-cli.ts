import { access, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { z } from "zod";
import { type Measurement, measure } from "./measure.js";

/** One snapshot as printed by `backup --json` and `list --json` (the fixed CLI contract). */
const snapshotSchema = z.object({
  id: z.string(),
  target: z.string(),
  type: z.string(),
  startTime: z.string(),
  endTime: z.string(),
  sourceBytes: z.number(),
  storedBytes: z.number(),
  status: z.string(),
});

/** A snapshot summary from `backup --json`. */
export type SnapshotSummary = z.infer<typeof snapshotSchema>;

/** A measured `backup` run and the snapshots it reported. */
export interface BackupRun extends Measurement {
  snapshots: SnapshotSummary[];
}

/** Drives the built prs-backup CLI (`node dist/bin/prs-backup.js --config FILE …`) as a child process. */
export class PrsCli {
  readonly #main: string;
  readonly #config: string;

  /** `projectDir` holds the build; `configPath` is passed as `--config`. */
  constructor(projectDir: string, configPath: string) {
    this.#main = join(projectDir, "dist", "bin", "prs-backup.js");
    this.#config = configPath;
  }

  /** Fails with a clear message when the CLI has not been built. */
  async assertBuilt(): Promise<void> {
    await access(this.#main).catch(() => {
      throw new Error(`${this.#main} does not exist: run \`npm run build\` first`);
    });
  }

  /**
   * Writes the config file: one repository and the given targets. The cache (the saved
   * chunk table) goes beside the config, not into the user's home: like restic's cache,
   * it is not counted as stored.
   */
  async writeConfig(repositoryPath: string, targets: Record<string, unknown>): Promise<void> {
    const cacheDirectory = join(dirname(this.#config), "cache");
    await writeFile(
      this.#config,
      stringify({ repository: { path: repositoryPath, cacheDirectory }, targets }),
    );
  }

  /** Runs one command (`init`, `restore …`), measured. */
  async run(...args: string[]): Promise<Measurement> {
    return measure([process.execPath, this.#main, "--config", this.#config, ...args]);
  }

  /** Runs `backup TARGET --json`, measured, and checks its output against the CLI contract. */
  async backup(target: string): Promise<BackupRun> {
    const run = await this.run("backup", target, "--json");
    const parsed = z.array(snapshotSchema).safeParse(JSON.parse(run.stdout));
    if (!parsed.success)
      throw new Error(`backup --json printed an unexpected document: ${parsed.error.message}`);
    const failed = parsed.data.filter((s) => s.status !== "complete");
    if (parsed.data.length === 0 || failed.length > 0) {
      throw new Error(`backup ${target} did not report a complete snapshot: ${run.stdout.trim()}`);
    }
    return { ...run, snapshots: parsed.data };
  }
}
