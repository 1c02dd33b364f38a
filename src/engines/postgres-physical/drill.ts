import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import { pollUntil } from "../../util/concurrency.js";
import { describeFailure, runCommand } from "../../util/subprocess.js";
import type { DrillResult, EngineContext } from "../engine.js";
import { PgServer, DEFAULT_PG_BIN } from "./pg-server.js";
import { restorePhysical } from "./restore.js";
import type { PhysicalTarget } from "./target.js";

const PROMOTE_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * Restores the base backup into a scratch directory, checks every file with
 * `pg_verifybackup` against the backup's manifest, starts it on a free port (as the
 * postgres user when we are root), lets it replay the archive to its end and promote,
 * and checks that it answers queries. Archiving is off in the scratch cluster, so the
 * drill never writes into the archive.
 */
export async function drillPhysical(
  target: PhysicalTarget,
  snapshot: SnapshotManifest,
  ctx: EngineContext,
): Promise<DrillResult> {
  const started = Date.now();
  const base = await fs.mkdtemp(path.join(ctx.tempDirectory ?? os.tmpdir(), "prs-drill-pitr-"));
  const dataDir = path.join(base, "data");
  const problems: string[] = [];
  let server: PgServer | undefined;
  const compared: Record<string, unknown> = {};
  try {
    await restorePhysical(
      target,
      { snapshot, to: dataDir, force: false, dryRun: false },
      { ...ctx, services: {} },
    );
    // Before the server writes anything: every file against backup_manifest (WAL comes from the archive).
    const binDir = target.binDir ?? DEFAULT_PG_BIN;
    const verified = await runCommand([path.join(binDir, "pg_verifybackup"), "--no-parse-wal", dataDir]);
    if (verified.exitCode !== 0) throw new Error(`pg_verifybackup: ${describeFailure(verified)}`);
    compared["pgVerifybackup"] = "ok";
    server = await PgServer.adopt(dataDir, { binDir });
    await server.start();
    const promoted = server;
    await pollUntil(
      async () => {
        const [row] = await promoted.query<{ r: boolean; tl: string }>(
          "SELECT pg_is_in_recovery() AS r, (SELECT timeline_id::text FROM pg_control_checkpoint()) AS tl",
        );
        return row && !row.r ? true : undefined;
      },
      {
        timeoutMs: PROMOTE_TIMEOUT_MS,
        intervalMs: 250,
        onTimeout: () => new Error("recovery did not finish within 10 minutes"),
      },
    );
    const [db] = await server.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_database");
    compared["consistent"] = true;
    compared["promoted"] = true;
    compared["databases"] = Number(db?.n ?? 0);
  } catch (err) {
    const log = server ? (await server.log()).trim().split("\n").slice(-3).join(" | ") : "";
    problems.push(`drill of ${snapshot.id}: ${(err as Error).message}${log ? ` (server log: ${log})` : ""}`);
  } finally {
    await server?.stop("immediate").catch(() => undefined);
    await fs.rm(base, { recursive: true, force: true });
  }
  return { ok: problems.length === 0, seconds: (Date.now() - started) / 1000, compared, problems };
}
