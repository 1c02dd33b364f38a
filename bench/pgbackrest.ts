import fs from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";
import type { ScratchCluster } from "../src/engines/postgres/scratch-cluster.js";
import { comparisonTool } from "./comparison-tools.js";
import { diskUsage, measure, type Measurement } from "./measure.js";
import type { BenchContext } from "./section.js";

/** pgBackRest set up on the benchmark's cluster as the issue measured it: zst level 3, process-max 2. */
export interface PgBackRest {
  version: string;
  /** A full backup (`--type=full`); WAL is not archived by pgBackRest here (archive-check=n). */
  backup(): Promise<Measurement>;
  /** Restores the newest backup into the empty directory `to` (no recovery settings written). */
  restore(to: string): Promise<Measurement>;
  /** Bytes in pgBackRest's repository. */
  repoBytes(): Promise<number>;
}

/** pgBackRest for `cluster` with its repository under `dir`, or undefined when it cannot be had. */
export async function pgBackRestFor(
  context: BenchContext,
  cluster: ScratchCluster,
  dir: string,
): Promise<PgBackRest | undefined> {
  const version = await comparisonTool(context, "pgbackrest", "pgbackrest");
  if (!version) return undefined;
  const base = join(dir, "pgbackrest");
  for (const sub of ["repo", "log", "lock", "spool"]) await fs.mkdir(join(base, sub), { recursive: true });
  const conf = join(base, "pgbackrest.conf");
  await fs.writeFile(
    conf,
    [
      "[global]",
      `repo1-path=${join(base, "repo")}`,
      "repo1-retention-full=99",
      `log-path=${join(base, "log")}`,
      `lock-path=${join(base, "lock")}`,
      `spool-path=${join(base, "spool")}`,
      "log-level-console=warn",
      "log-level-file=off",
      "process-max=2",
      "compress-type=zst",
      "compress-level=3",
      "start-fast=y",
      // Our own `wal push` archives this cluster's WAL; pgBackRest is measured for base backups only.
      "archive-check=n",
      "",
      "[bench]",
      `pg1-path=${cluster.dataDirectory}`,
      `pg1-port=${cluster.port}`,
      `pg1-socket-path=${dirname(cluster.dataDirectory)}`,
      "pg1-user=postgres",
      "",
    ].join("\n"),
  );
  await execa("chown", ["-R", "postgres:postgres", base]);
  const pgbackrest = (...args: string[]): string[] => [
    "runuser",
    "-u",
    "postgres",
    "--",
    "pgbackrest",
    `--config=${conf}`,
    "--stanza=bench",
    ...args,
  ];
  await measure(pgbackrest("stanza-create"));
  return {
    version,
    backup: () => measure(pgbackrest("--type=full", "backup")),
    restore: async (to) => {
      await fs.mkdir(to, { recursive: true, mode: 0o700 });
      await execa("chown", ["postgres:postgres", to]);
      return measure(pgbackrest(`--pg1-path=${to}`, "--type=none", "restore"));
    },
    repoBytes: () => diskUsage(join(base, "repo")),
  };
}
