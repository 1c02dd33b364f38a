import type { Repository } from "../repo/repository.js";
import type { PackCatalog, PackInfo } from "../repo/pack-catalog.js";
import { PackBuilder, putPack, type SealedPack } from "../repo/pack-builder.js";
import { encodePackIndex, packIndexKey, packKey } from "../repo/pack-format.js";
import { forEachLimit } from "../util/concurrency.js";
import type { Logger } from "../util/logger.js";

/** A pack is rewritten when less than this share of its chunk bytes is still referenced. */
export const REPACK_LIVE_RATIO = 0.5;

/** What prune will do with packs; computed before anything is deleted. */
export interface PackPrunePlan {
  /** Packs none of whose chunks is referenced: deleted with their index. */
  remove: PackInfo[];
  /** Packs mostly unreferenced: their live chunks are copied into new packs, then they are deleted. */
  repack: PackInfo[];
  /** Indexes without a pack: leftovers of interrupted runs, deleted. */
  orphanIndexes: string[];
  /** Kept packs whose index was rebuilt from the pack: their index object is written back. */
  repairIndexes: PackInfo[];
  /** Unreferenced chunks that leave the repository. */
  deadChunks: number;
  /** Bytes freed: exact for removed packs, an estimate (dead share) for repacked ones. */
  reclaimableBytes: number;
  /** Chunks held by packs that stay as they are: a rewrite does not copy them again. */
  keptChunks: ReadonlySet<string>;
}

/** Decides each pack's fate from the set of referenced chunk ids. */
export function planPackPrune(catalog: PackCatalog, referenced: ReadonlySet<string>): PackPrunePlan {
  const plan: PackPrunePlan = {
    remove: [],
    repack: [],
    orphanIndexes: [...catalog.orphanIndexes],
    repairIndexes: [],
    deadChunks: 0,
    reclaimableBytes: 0,
    keptChunks: new Set(),
  };
  const kept: PackInfo[] = [];
  const rewrite: { pack: PackInfo; dead: number; estimate: number }[] = [];
  for (const pack of catalog.packs.values()) {
    const { live, total, dead } = liveness(pack, referenced);
    if (catalog.incomplete.has(pack.id)) {
      // Frames that did not decode are missing from its rebuilt index: what they hold is
      // unknown, so the pack is never deleted or rewritten (verify reports the damage).
      kept.push(pack);
    } else if (live === 0) {
      plan.remove.push(pack);
      plan.deadChunks += dead;
      plan.reclaimableBytes += pack.size + pack.indexSize;
    } else if (live < total * REPACK_LIVE_RATIO) {
      rewrite.push({ pack, dead, estimate: Math.round(pack.size * (1 - live / total)) });
    } else {
      kept.push(pack);
      if (catalog.rebuilt.has(pack.id)) plan.repairIndexes.push(pack);
    }
  }
  // A pack to rewrite whose live chunks all sit in kept packs already (a prune killed after
  // writing the new packs, or two backups that stored the same chunks) is simply removed.
  const keptChunks = chunkIdsOf(kept);
  for (const { pack, dead, estimate } of rewrite) {
    plan.deadChunks += dead;
    const needed = pack.index.frames.some((f) =>
      f.chunks.some(([id]) => referenced.has(id) && !keptChunks.has(id)),
    );
    if (needed) {
      plan.repack.push(pack);
      plan.reclaimableBytes += estimate;
    } else {
      plan.remove.push(pack);
      plan.reclaimableBytes += pack.size + pack.indexSize;
    }
  }
  plan.keptChunks = keptChunks;
  return plan;
}

/** Referenced and total plain bytes of a pack's chunks, and how many chunks are unreferenced. */
function liveness(
  pack: PackInfo,
  referenced: ReadonlySet<string>,
): { live: number; total: number; dead: number } {
  let live = 0;
  let total = 0;
  let dead = 0;
  for (const frame of pack.index.frames) {
    for (const [id, size] of frame.chunks) {
      total += size;
      if (referenced.has(id)) live += size;
      else dead += 1;
    }
  }
  return { live, total, dead };
}

function chunkIdsOf(packs: readonly PackInfo[]): Set<string> {
  const ids = new Set<string>();
  for (const pack of packs)
    for (const frame of pack.index.frames) for (const [id] of frame.chunks) ids.add(id);
  return ids;
}

/**
 * Carries out a plan: first the live chunks of packs to rewrite are read (each checked
 * against its hash) into new packs, which are made durable; only then are indexes and
 * packs deleted, indexes first. A kill at any point leaves every referenced chunk
 * findable (at worst twice), and the next prune finishes the job. Returns the bytes freed.
 */
export async function applyPackPrune(
  repo: Repository,
  plan: PackPrunePlan,
  referenced: ReadonlySet<string>,
  logger: Logger,
): Promise<number> {
  let freed = 0;
  for (const pack of plan.repairIndexes) {
    await repo.backend.put(packIndexKey(pack.id), encodePackIndex(pack.index), { deferred: true });
    logger.warn(`pack ${pack.id} had lost its index; rebuilt it from the pack`);
  }
  if (plan.repack.length > 0) {
    const written = await rewriteLiveChunks(repo, plan.repack, referenced, plan.keptChunks);
    freed -= written;
    logger.info(
      `rewrote the live chunks of ${plan.repack.length} mostly unused pack(s) into ${written} bytes`,
    );
  }
  const doomed = [...plan.remove, ...plan.repack];
  for (const pack of doomed) freed += pack.size + pack.indexSize;
  const backend = repo.backend;
  await forEachLimit([...doomed.map((p) => p.id), ...plan.orphanIndexes], 16, (id) =>
    backend.delete(packIndexKey(id)),
  );
  await backend.flush();
  await forEachLimit(
    doomed.map((p) => p.id),
    16,
    (id) => backend.delete(packKey(id)),
  );
  await backend.flush();
  return freed;
}

async function rewriteLiveChunks(
  repo: Repository,
  packs: PackInfo[],
  referenced: ReadonlySet<string>,
  keptChunks: ReadonlySet<string>,
): Promise<number> {
  const builder = new PackBuilder((plain) => repo.chunks.encodeFrame(plain));
  const copied = new Set<string>(keptChunks);
  let written = 0;
  const write = async (sealed: SealedPack) => {
    written += (await putPack(repo.backend, sealed)).bytes;
  };
  for (const pack of packs) {
    for (const frame of pack.index.frames) {
      for (const [id] of frame.chunks) {
        if (!referenced.has(id) || copied.has(id)) continue;
        copied.add(id);
        const sealed = builder.add(id, await repo.chunks.get(id));
        if (sealed) await write(sealed);
      }
      // Chunks that shared a frame (one file's) share one again, and no others.
      const sealed = builder.endFrame();
      if (sealed) await write(sealed);
    }
  }
  const last = builder.finish();
  if (last) await write(last);
  await repo.backend.flush();
  return written;
}
