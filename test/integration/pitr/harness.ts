import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { PgServer } from "../../../src/engines/postgres-physical/pg-server.js";
import { walCommandFor } from "../../../src/engines/postgres-physical/restore.js";
import { ScratchCluster } from "../../../src/engines/postgres/scratch-cluster.js";
import { CLI } from "../../support/cli.js";

export const TARGET = "database-pitr";

/** A source cluster archiving into a fresh repository through the lean `wal push`, and a config for it. */
export interface PitrWorld {
  dir: string;
  repo: string;
  config: string;
  source: ScratchCluster;
  cleanup(): Promise<void>;
}

export async function createWorld(
  options: { archiveCommand?: (repo: string) => string } = {},
): Promise<PitrWorld> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "prs-pitr-"));
  await fs.chmod(dir, 0o755);
  const repo = path.join(dir, "repo");
  const archiveCommand = options.archiveCommand?.(repo) ?? walCommandFor("push", repo, TARGET);
  const source = await ScratchCluster.start({
    settings: {
      wal_level: "replica",
      archive_mode: "on",
      archive_command: archiveCommand,
      max_wal_senders: "4",
    },
  });
  const config = path.join(dir, "prs-backup.yaml");
  await fs.writeFile(
    config,
    [
      "repository:",
      `  path: ${repo}`,
      "  lockTimeoutSeconds: 60",
      "services:",
      `  stop: [touch, ${path.join(dir, "services-stopped")}]`,
      `  start: [touch, ${path.join(dir, "services-started")}]`,
      "targets:",
      `  ${TARGET}:`,
      "    type: postgres-physical",
      `    connection: {host: 127.0.0.1, port: ${source.port}, user: postgres}`,
      `    dataDirectory: ${source.dataDirectory}`,
      "    binDir: /usr/lib/postgresql/15/bin",
      "    archiveWaitSeconds: 60",
      "",
    ].join("\n"),
    { mode: 0o644 },
  );
  return {
    dir,
    repo,
    config,
    source,
    cleanup: async () => {
      await source.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs the built CLI (`node dist/bin/prs-backup.js --config FILE …`); never throws on a non-zero exit. */
export async function prs(world: PitrWorld, ...args: string[]): Promise<CliRun> {
  const started = Date.now();
  const r = await execa(process.execPath, [CLI, "--config", world.config, ...args], { reject: false });
  return {
    exitCode: r.exitCode ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Switches to a new WAL segment and waits until the archiver has pushed the one just closed. */
export async function archiveCurrentWal(cluster: { query: ScratchCluster["query"] }): Promise<void> {
  const [row] = await cluster.query<{ name: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS name");
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [st] = await cluster.query<{ last: string | null }>(
      "SELECT last_archived_wal AS last FROM pg_stat_archiver",
    );
    if (st?.last && row && st.last >= row.name) return;
    if (Date.now() > deadline) throw new Error(`WAL ${row?.name} was not archived within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a restored data directory and waits until recovery has finished and it promoted. */
export async function startRestored(dataDir: string): Promise<PgServer> {
  const server = await PgServer.adopt(dataDir);
  await server.start();
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [row] = await server.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
    if (row && !row.r) return server;
    if (Date.now() > deadline)
      throw new Error(`restored cluster ${dataDir} did not promote: ${await server.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Rows of the test table as one comparable summary per batch (count and an md5 of the content). */
export async function batches(cluster: { query: ScratchCluster["query"] }): Promise<Record<string, string>> {
  const rows = await cluster.query<{ batch: string; n: string; digest: string }>(
    "SELECT batch, count(*)::text AS n, md5(string_agg(id::text || ':' || payload, ',' ORDER BY id)) AS digest FROM pitr_rows GROUP BY batch ORDER BY batch",
  );
  return Object.fromEntries(rows.map((r) => [r.batch, `${r.n}:${r.digest}`]));
}

/** Commits one batch of rows. */
export async function insertBatch(
  cluster: { query: ScratchCluster["query"] },
  batch: string,
  from: number,
  count: number,
): Promise<void> {
  await cluster.query(
    "INSERT INTO pitr_rows SELECT g, $1, md5(g::text || $1) FROM generate_series($2::int, $3::int) g",
    [batch, from, from + count - 1],
  );
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
