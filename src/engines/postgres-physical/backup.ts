import { OperationError } from "../../errors.js";
import { withLargeStdioBuffer } from "../../util/stdio-buffer.js";
import { spawnStreaming, describeFailure, CommandFailedError } from "../../util/subprocess.js";
import type { StoredData } from "../../repo/snapshot-writer.js";
import type { BackupContext, BackupResult } from "../engine.js";
import { connectionFor, pgTool, queryServer } from "./pg-connect.js";
import { BACKUP_MANIFEST, BASE_TAR, type BaseBackupMetadata, type PhysicalTarget } from "./target.js";
import { ChunkMapBuilder, CHUNK_MAP_ENTRY, parentBasis, type TarChunkMap } from "./chunk-map.js";
import { TarChunker } from "./tar-chunker.js";
import { TarScanner } from "./tar-scan.js";
import { WalArchive } from "./wal-archive.js";
import { ownerOf, prepareWalDirectory } from "./wal-directory.js";
import { labelStart, labelTime } from "./backup-label.js";
import { BackupSession } from "./backup-session.js";
import { directBaseBackup } from "./direct-backup.js";
import { whyNotDirect } from "./direct-eligibility.js";
import { lastSegnoBefore, parseLsn, segmentName, segnoOfLsn } from "./wal-names.js";

const POLL_MS = 250;

interface ServerFacts {
  system_identifier: string;
  server_version: string;
  server_version_num: string;
  data_checksums: string;
}

/**
 * A base backup: the data directory copied directly (direct-backup.ts) when that is
 * possible (direct-eligibility.ts), else pg_basebackup's tar stream; either way one tar,
 * cut at file boundaries, deduplicated and stored as it is read, with its backup_label and
 * backup_manifest. The snapshot is complete only once every WAL segment from the start to
 * the stop LSN is in the archive.
 */
export async function backupPhysical(target: PhysicalTarget, ctx: BackupContext): Promise<BackupResult> {
  const { writer, logger } = ctx;
  const repoPath = ctx.repo.backend.location;
  const owner = await ownerOf(target.dataDirectory).catch(() => undefined);
  if (owner) await prepareWalDirectory(repoPath, target.name, owner);
  const [facts] = await queryServer<ServerFacts>(
    target,
    ctx.env,
    "SELECT (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier, current_setting('server_version') AS server_version, current_setting('server_version_num') AS server_version_num, current_setting('data_checksums') AS data_checksums",
  );
  if (!facts) throw new OperationError("E_PG_QUERY", `target "${target.name}": the server returned no facts`);
  const archive = new WalArchive(repoPath, target.name);
  const recorded = await archive.systemId();
  if (recorded !== undefined && recorded !== facts.system_identifier) {
    throw new OperationError(
      "E_WAL_SYSTEM_MISMATCH",
      `target "${target.name}": the server is database system ${facts.system_identifier}, but the WAL archive belongs to ${recorded}; point the target at the right server, or start a new archive (see docs/pitr.md, --allow-system-change)`,
    );
  }

  const conn = await connectionFor(target, ctx.env);
  const name = `prs-backup ${writer.id}`;
  let why = ctx.writer.packed
    ? await whyNotDirect(target, (sql) => queryServer(target, ctx.env, sql))
    : "the repository is format 1 (no packs)";
  let session: BackupSession | undefined;
  if (why === undefined) {
    // Starting the backup is the last check: the role may lack EXECUTE on pg_backup_start.
    session = await BackupSession.start(conn.client, {
      label: name,
      fast: target.checkpoint === "fast",
      versionNum: Number(facts.server_version_num),
    }).catch((err: unknown) => {
      why = (err as Error).message;
      return undefined;
    });
  }
  if (why !== undefined && target.method === "direct") {
    throw new OperationError("E_PG_BASEBACKUP_FAILED", `target "${target.name}": method direct: ${why}`);
  }
  let taken: TakenBackup;
  if (session) {
    logger.info(`${target.name}: base backup of ${target.dataDirectory} with ${target.threads} threads`);
    const direct = await directBaseBackup(
      target.dataDirectory,
      session,
      { threads: target.threads, owner: owner ?? { uid: 0, gid: 0 } },
      ctx,
    );
    taken = { ...direct, label: direct.stop.label, stopLsn: direct.stop.stopLsn, method: "direct" };
  } else {
    if (target.method === "auto") logger.info(`${target.name}: base backup with pg_basebackup (${why})`);
    taken = await withPgBasebackup(target, conn, name, ctx);
  }
  const { stored, map, manifest } = taken;
  const now = new Date();
  const mtimeNs = (BigInt(now.getTime()) * 1_000_000n).toString();
  const base = { mode: 0o600, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0, mtimeNs };
  await writer.addEntry({ path: BASE_TAR, type: "file", ...base, ...stored });
  if (manifest) {
    const m = await writer.storeBuffer(manifest);
    await writer.addEntry({ path: BACKUP_MANIFEST, type: "file", ...base, ...m });
  }
  const mapData = await writer.storeBuffer(Buffer.from(JSON.stringify(map)));
  await writer.addEntry({ path: CHUNK_MAP_ENTRY, type: "file", ...base, ...mapData });

  const { startLsn, timeline } = labelStart(taken.label);
  const stopLsn = taken.stopLsn;
  if (!startLsn || !stopLsn) {
    throw new OperationError(
      "E_PG_BASEBACKUP_FAILED",
      "cannot find the start and stop LSN of the base backup in backup_label / backup_manifest",
    );
  }
  const startSegno = segnoOfLsn(parseLsn(startLsn));
  const stopSegno = lastSegnoBefore(parseLsn(stopLsn));
  const needed: string[] = [];
  for (let s = startSegno; s <= stopSegno; s++) needed.push(segmentName({ timeline, segno: s }));
  logger.info(
    `${target.name}: base backup ${startLsn} → ${stopLsn}; waiting for WAL ${needed[0]}…${needed.at(-1)} in the archive`,
  );
  const missing = await waitForWal(archive, needed, target.archiveWaitSeconds * 1000, ctx.signal);
  for (const name of missing) {
    writer.addProblem({
      path: name,
      message: `WAL segment ${name} needed by this base backup did not reach the archive within ${target.archiveWaitSeconds}s; is archive_command set to prs-backup wal push (see docs/pitr.md)?`,
    });
  }
  const metadata: BaseBackupMetadata = {
    systemIdentifier: facts.system_identifier,
    pgVersion: facts.server_version,
    pgVersionNum: Number(facts.server_version_num),
    dataChecksums: facts.data_checksums === "on",
    timeline,
    startLsn,
    stopLsn,
    startWal: needed[0]!,
    stopWal: needed.at(-1)!,
    startTime: labelTime(taken.label) ?? writer.startTime.toISOString(),
    stopTime: now.toISOString(),
    owner: owner ?? { uid: 0, gid: 0 },
    backupLabel: taken.label,
    tarBytes: stored.size,
    members: taken.members,
    walConfirmed: missing.length === 0,
    method: taken.method,
  };
  return {
    status: missing.length === 0 ? "complete" : "partial",
    sourceBytes: stored.size,
    metadata: { ...metadata },
  };
}

/** A base backup as taken, by either method. */
interface TakenBackup {
  stored: StoredData;
  map: TarChunkMap;
  label: string;
  manifest: Buffer | undefined;
  stopLsn: string | undefined;
  members: number;
  method: BaseBackupMetadata["method"];
}

/** A base backup by pg_basebackup's tar stream on stdout. */
async function withPgBasebackup(
  target: PhysicalTarget,
  conn: Awaited<ReturnType<typeof connectionFor>>,
  label: string,
  ctx: BackupContext,
): Promise<TakenBackup> {
  // The tar stream comes through stdio: 1 MiB writes instead of 4–8 KiB ones halved the
  // CPU time of moving an 816 MB stream (docs/pitr.md).
  const argv = withLargeStdioBuffer(
    [
      pgTool(target, "pg_basebackup"),
      ...conn.args,
      "-D",
      "-",
      "-Ft",
      "-X",
      "none",
      "-v",
      `--checkpoint=${target.checkpoint}`,
      `--label=${label}`,
    ],
    "stdout",
  );
  const child = await spawnStreaming(argv, {
    env: conn.toolEnv,
    signal: ctx.signal,
    ...(conn.password ? { redact: [conn.password] } : {}),
  });
  const scanner = new TarScanner(["backup_label", "backup_manifest"]);
  const storing = storeTar(child.stdout as AsyncIterable<Buffer>, scanner, ctx).catch(
    async (err: unknown) => {
      child.stdout.destroy();
      await child.done.catch(() => undefined);
      throw err;
    },
  );
  const [{ stored, map }, result] = await Promise.all([storing, child.done]);
  if (result.exitCode !== 0 || result.signal || result.timedOut) {
    throw new CommandFailedError(
      "E_PG_BASEBACKUP_FAILED",
      `pg_basebackup failed (${describeFailure(result)}); does targets.${target.name}.connection allow replication connections (pg_hba.conf, REPLICATION role)?`,
      result,
    );
  }
  const backupLabel = scanner.captured.get("backup_label")?.toString("utf8");
  const manifest = scanner.captured.get("backup_manifest");
  if (!backupLabel)
    throw new OperationError("E_PG_BASEBACKUP_FAILED", "pg_basebackup's output holds no backup_label");
  return {
    stored,
    map,
    label: backupLabel,
    manifest,
    stopLsn: stopLsnOf(manifest, result.stderrTail),
    members: scanner.members,
    method: "pg_basebackup",
  };
}

/**
 * Stores the tar stream cut at file boundaries (TarChunker), a changed chunk of a large
 * file as a delta against the parent's chunk at the same file offset where that pays;
 * returns what a file entry records, and the chunk map for the next base backup.
 */
async function storeTar(
  source: AsyncIterable<Buffer>,
  scanner: TarScanner,
  ctx: BackupContext,
): Promise<{ stored: StoredData; map: TarChunkMap }> {
  const basis = await parentBasis(ctx);
  const map = new ChunkMapBuilder();
  const stored = await ctx.writer.storeCut(watched(source, scanner, ctx), new TarChunker(), {
    onChunk: (chunk, index) => {
      map.note(index, chunk);
      return basis?.(chunk);
    },
    // No whole-stream SHA-256: a second pass over every byte, and the files inside are
    // checked by pg_verifybackup against backup_manifest's own checksums.
    wholeHash: false,
  });
  return { stored, map: map.toJSON() };
}

/** Passes the stream through, showing it to the scanner (backup_label, backup_manifest) and the progress. */
async function* watched(
  source: AsyncIterable<Buffer>,
  scanner: TarScanner,
  ctx: BackupContext,
): AsyncGenerator<Buffer> {
  for await (const buf of source) {
    scanner.push(buf);
    ctx.progress.add(buf.length, 0);
    yield buf;
  }
}

function stopLsnOf(manifest: Buffer | undefined, stderr: string): string | undefined {
  if (manifest) {
    try {
      const parsed = JSON.parse(manifest.toString("utf8")) as { "WAL-Ranges"?: { "End-LSN": string }[] };
      const end = parsed["WAL-Ranges"]?.at(-1)?.["End-LSN"];
      if (end) return end;
    } catch {
      // fall back to pg_basebackup's own report
    }
  }
  return /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(stderr)?.[1];
}

async function waitForWal(
  archive: WalArchive,
  names: string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let missing = names;
  for (;;) {
    const present = new Set(await archive.list());
    missing = missing.filter((n) => !present.has(n));
    if (missing.length === 0 || Date.now() >= deadline || signal?.aborted) return missing;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
