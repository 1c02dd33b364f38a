/**
 * The PITR benchmark: prs-backup's `postgres-physical` target against the runbook's
 * `pg_basebackup -Ft -z` on the same pgbench cluster (scale 100 × BENCH_SCALE, ≈1.5 GB):
 * base backup time and bytes, a second base backup after `pgbench -c 4` (dedup), WAL push
 * throughput and latency under that load (lean `wal push` as archive_command), and the
 * time of a restore to the end of the archive plus WAL replay until promotion.
 * `pitrBench(context)` returns one markdown section.
 */
import fs from "node:fs/promises";
import { join } from "node:path";
import { PgServer } from "../src/engines/postgres-physical/pg-server.js";
import { walMainPath } from "../src/engines/postgres-physical/restore.js";
import { ScratchCluster } from "../src/engines/postgres/scratch-cluster.js";
import { diskUsage, measure, syncDisks, type Measurement } from "./measure.js";
import { pgBackRestFor } from "./pgbackrest.js";
import { PrsCli } from "./prs-cli.js";
import type { BenchContext } from "./section.js";

const TARGET = "database-pitr";
const PGBENCH_SECONDS = 30;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const s = (seconds: number): string => `${seconds.toFixed(1)} s`;

/** Runs the PITR benchmark and returns its markdown table and notes. */
export async function pitrBench(context: BenchContext): Promise<string> {
  const dir = join(context.benchDir, `pitr-${Date.now()}`);
  await fs.mkdir(dir, { recursive: true, mode: 0o777 });
  await fs.chmod(dir, 0o777);
  const repo = join(dir, "repo");
  const pushLog = join(dir, "push.log");
  const push = `${process.execPath} ${walMainPath()} push --repository ${repo} --target ${TARGET} %p`;
  const archiveCommand = `t0=$(date +%s%N); ${push}; rc=$?; echo "%f $t0 $(date +%s%N) $rc" >> ${pushLog}; exit $rc`;
  const cluster = await ScratchCluster.start({
    tempDirectory: dir,
    settings: {
      wal_level: "replica",
      archive_mode: "on",
      archive_command: archiveCommand,
      max_wal_size: "4GB",
      shared_buffers: "256MB",
    },
  });
  const restoredDir = join(dir, "restored", "data");
  let restored: PgServer | undefined;
  try {
    const cli = new PrsCli(context.projectDir, join(dir, "prs-backup.yaml"));
    await cli.assertBuilt();
    await cli.writeConfig(repo, {
      [TARGET]: {
        type: "postgres-physical",
        connection: { host: "127.0.0.1", port: cluster.port, user: "postgres" },
        dataDirectory: cluster.dataDirectory,
        binDir: cluster.binDir,
      },
    });
    await cli.run("init");
    await cli.backup(TARGET); // prepares the archive folder; the measured backups follow
    const scale = Math.max(1, Math.round(100 * context.scale));
    context.log(`pitr: pgbench -i -s ${scale}`);
    const pgArgs = ["-h", "127.0.0.1", "-p", String(cluster.port), "-U", "postgres", "postgres"];
    await cluster.runTool("pgbench", ["-i", "-q", "-s", String(scale), ...pgArgs], { timeoutMs: 3_600_000 });
    await cluster.query("CHECKPOINT");
    const [size] = await cluster.query<{ b: string }>(
      "SELECT sum(pg_database_size(oid))::text AS b FROM pg_database",
    );
    const dbBytes = Number(size?.b ?? 0);

    await syncDisks();
    context.log("pitr: pg_basebackup -Ft -z");
    const runbookDir = join(dir, "runbook");
    const runbook = await measure([
      join(cluster.binDir, "pg_basebackup"),
      ...pgArgs.slice(0, 6),
      "-D",
      runbookDir,
      "-Ft",
      "-z",
      "-c",
      "fast",
    ]);
    const runbookBytes = await diskUsage(runbookDir);
    await syncDisks();
    context.log("pitr: prs-backup backup (first)");
    const first = await cli.backup(TARGET);
    const backrest = await pgBackRestFor(context, cluster, dir);
    let backrestBackup: Measurement | undefined;
    let backrestBytes = 0;
    if (backrest) {
      await syncDisks();
      context.log(`pitr: pgBackRest full backup (${backrest.version})`);
      backrestBackup = await backrest.backup();
      backrestBytes = await backrest.repoBytes();
    }

    context.log(`pitr: pgbench -c 4 -T ${PGBENCH_SECONDS} with wal push as archive_command`);
    await fs.writeFile(pushLog, "");
    await fs.chmod(pushLog, 0o666);
    let maxReady = 0;
    const readyDir = join(cluster.dataDirectory, "pg_wal", "archive_status");
    const sampler = setInterval(() => {
      void fs.readdir(readyDir).then(
        (n) => (maxReady = Math.max(maxReady, n.filter((x) => x.endsWith(".ready")).length)),
        () => undefined,
      );
    }, 500);
    const loadStart = Date.now();
    await cluster.runTool("pgbench", ["-c", "4", "-j", "2", "-T", String(PGBENCH_SECONDS), "-n", ...pgArgs], {
      timeoutMs: 600_000,
    });
    const loadSeconds = (Date.now() - loadStart) / 1000;
    clearInterval(sampler);
    const [st] = await cluster.query<{ failed: string }>(
      "SELECT failed_count::text AS failed FROM pg_stat_archiver",
    );
    const pushes = (await fs.readFile(pushLog, "utf8"))
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" "));
    const latencies = pushes.map((p) => (Number(p[2]) - Number(p[1])) / 1e6).sort((a, b) => a - b);
    const walBytes = pushes.length * 16 * 1024 * 1024;

    await syncDisks();
    context.log("pitr: prs-backup backup (second, after pgbench)");
    const second = await cli.backup(TARGET);

    // The restores need only the repositories: stop the source, so that its checkpoint and
    // autovacuum after pgbench do not run during them (the cluster directory goes too).
    await cluster.close();
    let backrestRestore: Measurement | undefined;
    if (backrest) {
      await syncDisks();
      context.log("pitr: pgBackRest restore");
      backrestRestore = await backrest.restore(join(dir, "pgbackrest-restored"));
    }
    context.log("pitr: restore to the end of the archive and replay");
    await fs.mkdir(join(dir, "restored"), { recursive: true });
    await syncDisks();
    const restore = await cli.run("restore", TARGET, "--to", restoredDir);
    const replayStart = Date.now();
    restored = await PgServer.adopt(restoredDir, { binDir: cluster.binDir });
    await restored.start({ timeoutSeconds: 3600 });
    for (;;) {
      const [row] = await restored.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
      if (row && !row.r) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const replaySeconds = (Date.now() - replayStart) / 1000;
    const [check] = await restored.query<{ n: string }>("SELECT count(*)::text AS n FROM pgbench_accounts");
    const vs = (ours: number, theirs: number | undefined): string =>
      theirs === undefined ? "—" : `${(ours / theirs).toFixed(2)}× pgBackRest`;

    const f = first.snapshots[0]!;
    const sn = second.snapshots[0]!;
    const rows = [
      `| step | runbook (pg_basebackup -Ft -z) | pgBackRest (zst:3, process-max 2) | prs-backup | ratio |`,
      `| --- | --- | --- | --- | --- |`,
      `| base backup, time | ${s(runbook.wallSeconds)} | ${backrestBackup ? s(backrestBackup.wallSeconds) : "—"} | ${s(first.wallSeconds)} | ${(runbook.wallSeconds / first.wallSeconds).toFixed(1)}× faster than the runbook; ${vs(first.wallSeconds, backrestBackup?.wallSeconds)} |`,
      `| base backup, bytes stored | ${mb(runbookBytes)} | ${backrest ? mb(backrestBytes) : "—"} | ${mb(f.storedBytes)} | ${(f.storedBytes / runbookBytes).toFixed(2)} of the runbook; ${vs(f.storedBytes, backrest ? backrestBytes : undefined)} |`,
      `| base backup, peak RSS | ${mb(runbook.peakRssBytes)} | ${backrestBackup ? mb(backrestBackup.peakRssBytes) : "—"} | ${mb(first.peakRssBytes)} | |`,
      `| second base backup after ${PGBENCH_SECONDS} s pgbench, bytes stored | ${mb(runbookBytes)} (full again) | — | ${mb(sn.storedBytes)} (${((100 * sn.storedBytes) / f.storedBytes).toFixed(0)}% of the first) | |`,
      `| WAL push under pgbench -c 4 | — | — | ${(pushes.length / loadSeconds).toFixed(2)} segments/s (${mb(walBytes / loadSeconds)}/s), p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms | |`,
      `| restore to end of archive | — | ${backrestRestore ? `${s(backrestRestore.wallSeconds)} (its full backup, no replay)` : "—"} | ${s(restore.wallSeconds)} restore + ${s(replaySeconds)} replay to promotion | ${vs(restore.wallSeconds, backrestRestore?.wallSeconds)} (restore only) |`,
    ];
    const notes = [
      `One push takes p50 ${percentile(latencies, 50).toFixed(0)} ms under this load, so the archiver can push about ${(1000 / percentile(latencies, 50)).toFixed(1)} segments/s one after another; pgbench generated ${(pushes.length / loadSeconds).toFixed(2)}/s.`,
      `PITR: pgbench scale ${scale}, databases ${mb(dbBytes)}; ${pushes.length} WAL segments pushed in ${s(loadSeconds)} of pgbench, max ${maxReady} .ready files waiting, pg_stat_archiver.failed_count ${st?.failed}; restored cluster has ${check?.n} pgbench_accounts rows.`,
      backrest
        ? `${backrest.version}: a full backup of the same cluster right after our first base backup (before pgbench), and a restore of it into an empty directory; our restore is of the newest base backup (the second, mostly zstd-ref deltas against the first).`
        : "pgBackRest is not installed here and could not be installed, so it is not measured.",
    ];
    return [`### postgres-physical (PITR)`, "", ...rows, "", ...notes.map((n) => `- ${n}`), ""].join("\n");
  } finally {
    await restored?.stop("immediate").catch(() => undefined);
    await cluster.close();
    if (!context.keep) await fs.rm(dir, { recursive: true, force: true });
  }
}

/** `node dist/bench/pitr.js`: runs only this benchmark. */
if (process.argv[1]?.endsWith("/bench/pitr.js")) {
  const { benchContextFromEnv } = await import("./bench-env.js");
  process.stdout.write(await pitrBench(benchContextFromEnv()));
}
