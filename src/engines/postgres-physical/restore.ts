import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { RepoCorruptError, UserError } from "../../errors.js";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import { isEmptyOrMissingDir, pathExists } from "../../util/fs.js";
import { runChecked } from "../../util/subprocess.js";
import { LocalBackend } from "../../repo/backends/local.js";
import { parallelChunks } from "../../repo/decode-pool.js";
import { TarExtractor } from "./tar-extract.js";
import type { EngineContext, RestoreRequest, RestoreResult, RestoreStep } from "../engine.js";
import { BASE_TAR, type BaseBackupMetadata, type PhysicalTarget } from "./target.js";
import { postgresCommandWord } from "../../util/shell-quote.js";
import { prepareWalDirectory } from "./wal-directory.js";
import { parseLsn } from "./wal-names.js";
import { WalArchive } from "./wal-archive.js";
import {
  chooseTimeline,
  historyTimeline,
  parseHistory,
  type HistoryEntry,
  type TimelineChoice,
} from "./timelines.js";

/** What recovery should stop at (at most one); none: the end of the archive. */
export interface RecoveryTarget {
  /** ISO 8601 with zone: stop after the last commit at or before it. */
  time?: string;
  /** An LSN such as `0/3000060`: stop once WAL up to it is replayed. */
  lsn?: string;
  /** A transaction id: stop after it commits. */
  xid?: string;
  /** A restore point made with pg_create_restore_point(). */
  name?: string;
}

/** A restore request with the other recovery targets (`--lsn`, `--xid`, `--name`) besides `time`. */
export type PhysicalRestoreRequest = RestoreRequest & { lsn?: string; xid?: string; name?: string };

/** The request's recovery target; refuses more than one (PostgreSQL takes only one). */
export function recoveryTargetOf(request: PhysicalRestoreRequest): RecoveryTarget {
  const target: RecoveryTarget = {};
  if (request.time !== undefined) target.time = request.time;
  if (request.lsn !== undefined) target.lsn = request.lsn;
  if (request.xid !== undefined) target.xid = request.xid;
  if (request.name !== undefined) target.name = request.name;
  if (Object.keys(target).length > 1) {
    throw new UserError("E_USAGE", "give only one of --time, --lsn, --xid, --name");
  }
  return target;
}

/** A short description of a recovery target, for messages. */
function describeTarget(target: RecoveryTarget): string | undefined {
  if (target.time !== undefined) return `${target.time} (the last transaction committed at or before it)`;
  if (target.lsn !== undefined) return `LSN ${target.lsn}`;
  if (target.xid !== undefined) return `the commit of transaction ${target.xid}`;
  if (target.name !== undefined) return `restore point "${target.name}"`;
  return undefined;
}

/**
 * Picks the base backup to restore: the given one when it ended before the target,
 * otherwise the newest complete one that did (by time for --time, by LSN for --lsn).
 * For --xid and --name the ending point is unknown: the given one is used (--snapshot).
 */
export async function chooseBaseBackup(
  requested: SnapshotManifest,
  target: RecoveryTarget,
  ctx: EngineContext,
): Promise<SnapshotManifest> {
  const meta = (s: SnapshotManifest): Partial<BaseBackupMetadata> => s.metadata;
  let endOf: (s: SnapshotManifest) => bigint;
  let at: bigint;
  if (target.time !== undefined) {
    pgRecoveryTime(target.time);
    at = BigInt(Date.parse(target.time));
    endOf = (s) => BigInt(Date.parse(String(meta(s).stopTime ?? s.endTime)));
  } else if (target.lsn !== undefined) {
    at = checkedLsn(target.lsn);
    endOf = (s) => (meta(s).stopLsn ? parseLsn(meta(s).stopLsn!) : 2n ** 64n);
  } else return requested;
  const time = target.time ?? `LSN ${target.lsn}`;
  if (endOf(requested) <= at) return requested;
  const candidates = (await ctx.repo.snapshots.list(requested.target)).filter(
    (s) => s.status === "complete" && endOf(s) <= at,
  );
  const best = candidates.sort((a, b) => (endOf(b) > endOf(a) ? 1 : endOf(b) < endOf(a) ? -1 : 0))[0];
  if (!best) {
    throw new UserError(
      "E_NO_BASE_BACKUP",
      `no complete base backup of ${requested.target} ended before ${time}; the earliest point in time that can be recovered is the end of the oldest base backup (prs-backup list ${requested.target})`,
    );
  }
  return best;
}

function checkedLsn(lsn: string): bigint {
  try {
    return parseLsn(lsn);
  } catch {
    throw new UserError("E_USAGE", `--lsn ${lsn}: not an LSN (e.g. 0/3000060)`);
  }
}

/**
 * `--time` as PostgreSQL's recovery_target_time accepts it ("2026-11-24 14:30:00.123456+00"):
 * ISO 8601 with an explicit zone (Z or ±hh:mm); fractions of a second are kept as given.
 */
export function pgRecoveryTime(time: string): string {
  const m =
    /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i.exec(
      time.trim(),
    );
  if (!m || Number.isNaN(Date.parse(time))) {
    throw new UserError(
      "E_USAGE",
      `--time ${time}: give an ISO 8601 time with its zone, e.g. 2026-11-24T14:30:00Z or 2026-11-24T16:30:00+02:00`,
    );
  }
  const zone = m[3]!.toUpperCase() === "Z" ? "+00" : m[3]!;
  return `${m[1]} ${m[2]}${zone}`;
}

/** The lean WAL entry point (wal-main.js) of this installation, as an absolute path. */
export function walMainPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, "wal-main.js"),
    path.resolve(here, "../../../dist/src/engines/postgres-physical/wal-main.js"),
  ];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

/** A `wal push`/`wal fetch` command line for archive_command/restore_command: absolute paths, no config file needed. */
export function walCommandFor(verb: "push" | "fetch", repositoryPath: string, target: string): string {
  const args = [
    process.execPath,
    walMainPath(),
    verb,
    "--repository",
    repositoryPath,
    "--target",
    target,
  ].map(postgresCommandWord);
  return [...args, ...(verb === "push" ? ["%p"] : ["%f", "%p"])].join(" ");
}

function checkedXid(xid: string): string {
  if (!/^\d+$/.test(xid)) throw new UserError("E_USAGE", `--xid ${xid}: not a transaction id (digits)`);
  return xid;
}

/** The recovery settings appended to postgresql.auto.conf (the last value of a setting wins). */
export function recoverySettings(options: {
  restoreCommand: string;
  target: RecoveryTarget;
  archive: boolean;
  /** `recovery_target_timeline`; default `latest`. */
  timeline?: string;
}): Record<string, string> {
  const t = options.target;
  return {
    restore_command: options.restoreCommand,
    ...(t.time !== undefined ? { recovery_target_time: pgRecoveryTime(t.time) } : {}),
    ...(t.lsn !== undefined ? { recovery_target_lsn: (checkedLsn(t.lsn), t.lsn) } : {}),
    ...(t.xid !== undefined ? { recovery_target_xid: checkedXid(t.xid) } : {}),
    ...(t.name !== undefined ? { recovery_target_name: t.name } : {}),
    recovery_target_action: "promote",
    recovery_target_timeline: options.timeline ?? "latest",
    ...(options.archive ? {} : { archive_mode: "off" }),
  };
}

/**
 * Restores a base backup into a data directory that recovers to the requested point
 * (or the end of the archive) and promotes when started: extracts the base backup's
 * tar (checked chunk by chunk and as a whole), writes `recovery.signal` and the
 * recovery settings (PostgreSQL ≥ 12 style; never recovery.conf). In place only with
 * --force, moving the old data directory aside.
 */
export async function restorePhysical(
  target: PhysicalTarget,
  request: PhysicalRestoreRequest,
  ctx: EngineContext,
): Promise<RestoreResult> {
  const recoveryTarget = recoveryTargetOf(request);
  const snapshot = await chooseBaseBackup(request.snapshot, recoveryTarget, ctx);
  const meta = snapshot.metadata as unknown as BaseBackupMetadata;
  const inPlace = request.to === undefined;
  if (inPlace && !request.force) {
    throw new UserError(
      "E_RESTORE_REFUSED",
      `restoring ${target.name} in place replaces ${target.dataDirectory}: add --force (the current data directory is moved aside, not deleted), or use --to DIR`,
    );
  }
  const dest = path.resolve(request.to ?? target.dataDirectory);
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  const aside = !(await isEmptyOrMissingDir(dest)) ? `${dest}.before-restore-${stamp}` : undefined;
  if (aside && !request.force) {
    throw new UserError(
      "E_RESTORE_TARGET_NOT_EMPTY",
      `restore directory ${dest} is not empty: choose an empty one or add --force`,
    );
  }
  if (aside) await refuseRunningServer(dest);
  const repoPath = ctx.repo.backend.location;
  const timeline = await timelineFor(new WalArchive(repoPath, target.name), meta);
  const settings = recoverySettings({
    restoreCommand: walCommandFor("fetch", repoPath, target.name),
    target: recoveryTarget,
    archive: target.archiveAfterRestore,
    timeline: timeline.setting,
  });
  const steps: RestoreStep[] = [];
  if (inPlace && ctx.services?.stop)
    steps.push({ action: "stop-services", detail: ctx.services.stop.join(" ") });
  if (aside) steps.push({ action: "move-aside", detail: `${dest} → ${aside}` });
  steps.push({
    action: "extract",
    detail: `base backup ${snapshot.id} (${meta.startLsn} → ${meta.stopLsn}, timeline ${meta.timeline}) → ${dest}`,
  });
  steps.push({
    action: "recovery",
    detail: `recovery.signal; ${Object.entries(settings)
      .map(([k, v]) => `${k}='${v}'`)
      .join(", ")}`,
  });
  if (inPlace && ctx.services?.start)
    steps.push({ action: "start-services", detail: ctx.services.start.join(" ") });
  const result: RestoreResult = {
    location: dest,
    steps,
    entries: snapshot.entries.count,
    bytes: snapshot.sourceBytes,
    movedAside: [],
    notes: timeline.note ? [timeline.note] : [],
  };
  if (request.dryRun) return result;

  if (inPlace && ctx.services?.stop) await runChecked([...ctx.services.stop], "E_SERVICES_STOP_FAILED");
  if (aside) {
    await fs.rename(dest, aside);
    result.movedAside.push(aside);
    ctx.logger.info(`moved ${dest} aside to ${aside}`);
  }
  await fs.mkdir(dest, { recursive: true, mode: 0o700 });
  await extractBase(snapshot, dest, target.threads, ctx);
  await writeRecoveryFiles(dest, settings, meta.owner, snapshot);
  if (process.getuid?.() === 0) await prepareWalDirectory(repoPath, target.name, meta.owner);
  if (inPlace && ctx.services?.start) await runChecked([...ctx.services.start], "E_SERVICES_START_FAILED");
  const point = describeTarget(recoveryTarget);
  result.notes.push(
    `start it with \`pg_ctl -D ${dest} start\`: PostgreSQL replays ${point ? `WAL from the archive up to ${point}` : "every archived WAL file"}, then promotes to a new timeline`,
  );
  if (snapshot.id !== request.snapshot.id) {
    result.notes.push(
      `base backup ${snapshot.id} was used: ${request.snapshot.id} ended after ${point ?? "the target"}`,
    );
  }
  if (!target.archiveAfterRestore)
    result.notes.push(
      "archive_mode is off in the restored cluster; turn it on (ALTER SYSTEM) once it replaces production",
    );
  return result;
}

async function extractBase(
  snapshot: SnapshotManifest,
  dest: string,
  threads: number,
  ctx: EngineContext,
): Promise<void> {
  const tar = (await ctx.repo.snapshots.fileEntries(snapshot, [BASE_TAR])).get(BASE_TAR);
  if (!tar) throw new RepoCorruptError(`snapshot ${snapshot.id} has no ${BASE_TAR} entry`);
  const backend = ctx.repo.backend;
  const root = backend instanceof LocalBackend ? backend.location : undefined;
  const source = parallelChunks(ctx.repo.chunks, root, tar, threads);
  const extractor = new TarExtractor(dest, { chown: process.getuid?.() === 0 });
  try {
    for await (const piece of source) {
      await extractor.push(piece.data, piece.release);
      ctx.progress.add(piece.data.length, 0);
    }
    await extractor.finish();
  } catch (err) {
    await extractor.abort();
    if (err instanceof RepoCorruptError) {
      throw new RepoCorruptError(`cannot restore snapshot ${snapshot.id}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

async function writeRecoveryFiles(
  dest: string,
  settings: Record<string, string>,
  owner: { uid: number; gid: number },
  snapshot: SnapshotManifest,
): Promise<void> {
  const auto = path.join(dest, "postgresql.auto.conf");
  const lines = [
    `# added by prs-backup restore of base backup ${snapshot.id} at ${new Date().toISOString()}`,
    ...Object.entries(settings).map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'`),
  ];
  await fs.appendFile(auto, `${lines.join("\n")}\n`, { mode: 0o600 });
  await fs.writeFile(path.join(dest, "recovery.signal"), "", { mode: 0o600 });
  await fs.rm(path.join(dest, "standby.signal"), { force: true });
  if (process.getuid?.() === 0) {
    for (const p of [dest, auto, path.join(dest, "recovery.signal")]) await fs.chown(p, owner.uid, owner.gid);
  }
  await fs.chmod(dest, 0o700);
}

/** A data directory with a live postmaster must not be moved under it. */
async function refuseRunningServer(dir: string): Promise<void> {
  const pidFile = path.join(dir, "postmaster.pid");
  if (!(await pathExists(pidFile))) return;
  const pid = Number((await fs.readFile(pidFile, "utf8")).split("\n")[0]);
  let alive = false;
  try {
    process.kill(pid, 0);
    alive = pid > 0;
  } catch (err) {
    alive = (err as NodeJS.ErrnoException).code === "EPERM";
  }
  if (alive)
    throw new UserError(
      "E_RESTORE_REFUSED",
      `PostgreSQL (pid ${pid}) is running on ${dir}: stop it first (services.stop, or pg_ctl -D ${dir} stop)`,
    );
}

/** The timeline to recover along, from the history files in the archive (see chooseTimeline). */
async function timelineFor(archive: WalArchive, meta: BaseBackupMetadata): Promise<TimelineChoice> {
  const histories = new Map<number, HistoryEntry[]>();
  for (const name of await archive.list()) {
    const tli = historyTimeline(name);
    if (tli === undefined) continue;
    const text = (await archive.read(name)).toString("utf8");
    try {
      histories.set(tli, parseHistory(text));
    } catch (err) {
      throw new RepoCorruptError(`timeline history ${name} in the archive: ${(err as Error).message}`);
    }
  }
  return chooseTimeline({ timeline: meta.timeline, stopLsn: parseLsn(meta.stopLsn) }, histories);
}
