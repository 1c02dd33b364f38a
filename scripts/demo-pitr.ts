/**
 * The point-in-time-recovery part of the demo: a throwaway PostgreSQL 15 cluster archives
 * its WAL into the repository with `wal push`; a base backup is taken, orders are
 * committed in two batches around a time T, and `restore --time T` gives a data directory
 * that, once started, holds exactly the first batch. Everything runs through the real CLI.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { PgServer } from "../src/engines/postgres-physical/pg-server.js";
import { walCommandFor } from "../src/engines/postgres-physical/restore.js";
import { ScratchCluster } from "../src/engines/postgres/scratch-cluster.js";

const TARGET = "database-pitr";

export interface DemoPitrOptions {
  /** Scratch folder for the cluster, the repository and the restored copy. */
  dir: string;
  /** Runs the built CLI with the demo's config; a later `--config` in `args` overrides it. */
  cli: (args: string[]) => { out: string; seconds: number };
}

async function waitArchived(cluster: ScratchCluster): Promise<void> {
  const [row] = await cluster.query<{ name: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS name");
  for (let i = 0; i < 600; i++) {
    const [st] = await cluster.query<{ last: string | null }>(
      "SELECT last_archived_wal AS last FROM pg_stat_archiver",
    );
    if (st?.last && row && st.last >= row.name) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`WAL ${row?.name} was not archived within 60 s`);
}

/** Runs the PITR demo and returns the lines to print. */
export async function demoPitr(opts: DemoPitrOptions): Promise<string[]> {
  const base = path.join(opts.dir, "pitr");
  await fs.rm(base, { recursive: true, force: true });
  await fs.mkdir(base, { recursive: true, mode: 0o755 });
  const repo = path.join(base, "repo");
  const config = path.join(base, "prs-backup.yaml");
  const lines: string[] = [];
  const cluster = await ScratchCluster.start({
    tempDirectory: base,
    settings: {
      wal_level: "replica",
      archive_mode: "on",
      archive_command: walCommandFor("push", repo, TARGET),
    },
  });
  let restored: PgServer | undefined;
  try {
    await fs.writeFile(
      config,
      `repository:\n  path: ${repo}\ntargets:\n  ${TARGET}:\n    type: postgres-physical\n    connection: {host: 127.0.0.1, port: ${cluster.port}, user: postgres}\n    dataDirectory: ${cluster.dataDirectory}\n    binDir: ${cluster.binDir}\n`,
    );
    const cli = (...args: string[]): { out: string; seconds: number } =>
      opts.cli(["--config", config, ...args]);
    cli("init");
    lines.push(`archive_command = '${walCommandFor("push", repo, TARGET)}'`);
    const backup = cli("backup", TARGET);
    lines.push(`base backup: ${backup.out.trim()} (${backup.seconds.toFixed(1)} s)`);
    await cluster.query("CREATE TABLE orders (id int PRIMARY KEY, note text)");
    await cluster.query("INSERT INTO orders SELECT g, 'batch A' FROM generate_series(1, 1000) g");
    await new Promise((r) => setTimeout(r, 1100));
    const timeT = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await cluster.query(
      "INSERT INTO orders SELECT g, 'batch B (after T)' FROM generate_series(1001, 1500) g",
    );
    await waitArchived(cluster);
    lines.push(`committed 1000 orders (batch A), then T = ${timeT}, then 500 more (batch B); WAL archived`);
    const to = path.join(base, "restored", "data");
    const restore = cli("restore", TARGET, "--time", timeT, "--to", to);
    lines.push(`restore --time ${timeT} --to ${to}: ${restore.seconds.toFixed(1)} s`);
    const started = Date.now();
    restored = await PgServer.adopt(to, { binDir: cluster.binDir });
    await restored.start();
    for (;;) {
      const [row] = await restored.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
      if (row && !row.r) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const rows = await restored.query<{ note: string; n: string }>(
      "SELECT note, count(*)::text AS n FROM orders GROUP BY note ORDER BY note",
    );
    lines.push(
      `started the restored cluster: replayed WAL to T and promoted in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    lines.push(`restored orders: ${rows.map((r) => `${r.n} × ${r.note}`).join(", ")}`);
    const exact = rows.length === 1 && rows[0]?.n === "1000";
    lines.push(exact ? "PITR exact: every order of batch A, none of batch B ✓" : "PITR MISMATCH ✗");
    if (!exact) throw new Error(`PITR demo: expected 1000 orders of batch A, got ${JSON.stringify(rows)}`);
    return lines;
  } finally {
    await restored?.stop("immediate").catch(() => undefined);
    await cluster.close();
  }
}
