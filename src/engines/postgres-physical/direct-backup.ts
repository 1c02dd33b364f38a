import fs, { type FileHandle } from "node:fs/promises";
import { FRAME_TARGET_BYTES } from "../../repo/pack-format.js";
import type { StoredData } from "../../repo/snapshot-writer.js";
import type { BackupContext } from "../engine.js";
import { labelStart } from "./backup-label.js";
import { backupManifest, type ManifestFile } from "./backup-manifest.js";
import type { BackupSession, BackupStop } from "./backup-session.js";
import { ChunkMapBuilder, parentBasis, type TarChunkMap } from "./chunk-map.js";
import { walkDataDirectory } from "./data-dir-walk.js";
import { readUpTo } from "../../util/fs.js";
import { TAR_CHUNK_BYTES } from "./tar-chunker.js";
import { tarHeader } from "./tar-header.js";
import { TarPlanner, type PlannedChunk } from "./tar-plan.js";
import { OrderedJobs, type DoneJob } from "../../repo/ordered-jobs.js";
import { encodeClaimed, StorePool, type WirePiece } from "../../repo/store-pool.js";

/** Files smaller than this are read by this thread when planned (few descriptors open at once). */
const READ_NOW_BYTES = 64 * 1024;
/** Jobs each worker thread holds at once: one being read while another waits for its decisions. */
const JOBS_PER_THREAD = 3;

/** A data file whose descriptor stays open until every piece of it has been read. */
interface OpenFile {
  handle: FileHandle;
  /** Pieces not yet read. */
  refs: number;
}
type Content = OpenFile | Buffer;

export interface DirectBaseBackup {
  stored: StoredData;
  map: TarChunkMap;
  stop: BackupStop;
  manifest: Buffer;
  members: number;
}

/**
 * Copies the data directory between pg_backup_start and pg_backup_stop (`session`) as the
 * same tar that pg_basebackup would send — cut, deduplicated and stored as in a base
 * backup by pg_basebackup, so restores do not tell them apart — with worker threads
 * reading, hashing and compressing the files (repo/store-pool.ts). backup_label,
 * tablespace_map and a backup_manifest come last, once the backup is stopped.
 */
export async function directBaseBackup(
  dataDirectory: string,
  session: BackupSession,
  options: { threads: number; owner: { uid: number; gid: number } },
  ctx: BackupContext,
): Promise<DirectBaseBackup> {
  const { writer } = ctx;
  const basis = await parentBasis(ctx);
  const map = new ChunkMapBuilder();
  const planner = new TarPlanner<Content>();
  const pool = new StorePool(options.threads, ctx.repo.chunks.compressionLevel);
  const jobs = new OrderedJobs(writer, pool.threads * JOBS_PER_THREAD);
  const files: ManifestFile[] = [];
  const open = new Set<OpenFile>();
  let group: PlannedChunk<Content>[] = [];
  let groupBytes = 0;
  let chunkCount = 0;
  let members = 0;
  let tarBytes = 0;

  const runJob = async (chunks: PlannedChunk<Content>[]): Promise<DoneJob> => {
    const job = pool.job();
    const pieces = chunks.flatMap((c) => c.pieces.map(wire));
    const read = await pool
      .read(
        job,
        pieces,
        chunks.map((c) => c.size),
      )
      .finally(() => release(chunks, open));
    ctx.progress.add(read.length, 0);
    const encoded = await encodeClaimed(pool, writer, job, read, (i) => basis?.(chunks[i]!));
    return { ids: read.ids, encoded };
  };

  const submit = async (): Promise<void> => {
    if (group.length === 0) return;
    const chunks = group;
    group = [];
    groupBytes = 0;
    for (const chunk of chunks) map.note(chunkCount++, chunk);
    await jobs.submit(() => runJob(chunks));
  };

  const plan = async (chunks: PlannedChunk<Content>[]): Promise<void> => {
    for (const chunk of chunks) {
      group.push(chunk);
      groupBytes += chunk.size;
      tarBytes += chunk.size;
      if (groupBytes >= FRAME_TARGET_BYTES) await submit();
    }
  };

  const addMember = async (header: Parameters<typeof tarHeader>[0], content?: Content): Promise<void> => {
    members += 1;
    if (header.type === "file") files.push({ path: header.path, size: header.size, mtime: header.mtime });
    await plan(planner.add(header.path, tarHeader(header), header.size, content));
  };

  try {
    for await (const member of walkDataDirectory(dataDirectory)) {
      ctx.signal?.throwIfAborted();
      if (member.type !== "file") {
        await addMember(member);
        continue;
      }
      const opened = await openData(member.source);
      if (!opened) continue; // removed since the walk saw it: pg_basebackup leaves it out too
      if (opened.content && !Buffer.isBuffer(opened.content)) open.add(opened.content);
      await addMember({ ...member, size: opened.size }, opened.content);
    }
    const stop = await session.stop();
    const now = Math.floor(Date.now() / 1000);
    const owner = { mode: 0o600, mtime: now, ...options.owner };
    const label = Buffer.from(stop.label, "utf8");
    await addMember({ ...owner, path: "backup_label", type: "file", size: label.length }, label);
    if (stop.tablespaceMap !== "") {
      const spcmap = Buffer.from(stop.tablespaceMap, "utf8");
      await addMember({ ...owner, path: "tablespace_map", type: "file", size: spcmap.length }, spcmap);
    }
    const start = labelStart(stop.label);
    const manifest = backupManifest(files, {
      timeline: start.timeline,
      startLsn: start.startLsn ?? stop.stopLsn,
      endLsn: stop.stopLsn,
    });
    await addMember({ ...owner, path: "backup_manifest", type: "file", size: manifest.length }, manifest);
    await plan(planner.finish());
    await submit();
    const chunks = await jobs.finish();
    return {
      stored: { chunks, size: tarBytes },
      map: map.toJSON(),
      stop,
      manifest,
      members,
    };
  } catch (err) {
    await jobs.settle();
    await session.close();
    await Promise.allSettled([...open].map((f) => f.handle.close()));
    throw err;
  } finally {
    await pool.close();
  }
}

/** A file's content for the plan: read now when small, else its open descriptor. Undefined when gone. */
async function openData(source: string): Promise<{ size: number; content?: Content } | undefined> {
  let handle: FileHandle;
  try {
    handle = await fs.open(source, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let kept = false;
  try {
    const { size } = await handle.stat();
    if (size >= READ_NOW_BYTES) {
      kept = true;
      return { size, content: { handle, refs: Math.ceil(size / Math.min(size, TAR_CHUNK_BYTES)) } };
    }
    const bytes = await readUpTo(handle, size);
    // Shrunk since: zeros to the size planned, as pg_basebackup pads it.
    return {
      size,
      content: bytes.length === size ? bytes : Buffer.concat([bytes], size).fill(0, bytes.length),
    };
  } finally {
    if (!kept) await handle.close();
  }
}

function wire(piece: PlannedChunk<Content>["pieces"][number]): WirePiece {
  if ("bytes" in piece) return { bytes: piece.bytes };
  const { file, position, length } = piece;
  if (Buffer.isBuffer(file)) return { bytes: file.subarray(position, position + length) };
  return { fd: file.handle.fd, position, length };
}

/** Closes the descriptors whose every piece has been read. */
async function release(chunks: PlannedChunk<Content>[], open: Set<OpenFile>): Promise<void> {
  for (const chunk of chunks) {
    for (const piece of chunk.pieces) {
      if ("bytes" in piece || Buffer.isBuffer(piece.file)) continue;
      piece.file.refs -= 1;
      if (piece.file.refs > 0) continue;
      open.delete(piece.file);
      await piece.file.handle.close();
    }
  }
}
