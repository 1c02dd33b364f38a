import { z } from "zod";
import { entryText } from "../../repo/entry-content.js";
import type { SnapshotManifest } from "../../repo/snapshot.js";
import type { BackupContext } from "../engine.js";
import { BASE_TAR } from "./target.js";
import { TAR_CHUNK_BYTES } from "./tar-chunker.js";

/** Where a chunk of the tar is: set for an aligned piece of a large member's data. */
export interface ChunkPlace {
  member?: string;
  offset?: number;
}

/**
 * Stored with a base backup: where each large member's aligned chunks sit in the tar's
 * chunk list. The next base backup finds the previous version of a changed chunk of a
 * relation file here — by (file, offset), since tar-stream offsets shift whenever any
 * earlier file changes size — and stores the change as a delta against it.
 */
export const CHUNK_MAP_ENTRY = "/base.tar.chunks.json";

const chunkMapSchema = z.object({
  chunkBytes: z.number(),
  /** Member path → [index of its first aligned chunk in the tar's chunk list, count]. */
  members: z.record(z.string(), z.tuple([z.number(), z.number()])),
});
export type TarChunkMap = z.infer<typeof chunkMapSchema>;

/** Collects a chunk map while a tar stream is cut and stored. */
export class ChunkMapBuilder {
  readonly #members: Record<string, [number, number]> = {};

  /** Records the chunk at `index` of the tar's chunk list. */
  note(index: number, chunk: ChunkPlace): void {
    if (chunk.member === undefined || chunk.offset === undefined) return;
    const at = this.#members[chunk.member];
    if (chunk.offset === 0 || !at) this.#members[chunk.member] = [index, 1];
    else at[1] += 1;
  }

  toJSON(): TarChunkMap {
    return { chunkBytes: TAR_CHUNK_BYTES, members: this.#members };
  }
}

/** The previous version of a chunk: the parent's chunk id at the same (member, offset), if any. */
export type DeltaBasis = (chunk: ChunkPlace) => string | undefined;

/** A DeltaBasis from a parent's chunk map and its tar's chunk ids. */
export function basisFrom(map: TarChunkMap, chunks: readonly string[]): DeltaBasis | undefined {
  if (map.chunkBytes !== TAR_CHUNK_BYTES) return undefined;
  return (chunk) => {
    if (chunk.member === undefined || chunk.offset === undefined) return undefined;
    const at = map.members[chunk.member];
    const k = chunk.offset / map.chunkBytes;
    if (!at || k >= at[1]) return undefined;
    return chunks[at[0] + k];
  };
}

/**
 * The delta basis from the parent base backup, or undefined when there is none (first
 * backup, a parent from before chunk maps, or a parent that cannot be read — the backup
 * then stores changed chunks whole, which is only bigger).
 */
export async function parentBasis(ctx: BackupContext): Promise<DeltaBasis | undefined> {
  const parent: SnapshotManifest | undefined = ctx.parent;
  if (!parent) return undefined;
  try {
    const found = await ctx.repo.snapshots.fileEntries(parent, [BASE_TAR, CHUNK_MAP_ENTRY]);
    const tar = found.get(BASE_TAR);
    const mapEntry = found.get(CHUNK_MAP_ENTRY);
    if (!tar || !mapEntry) return undefined;
    const map = chunkMapSchema.parse(JSON.parse(await entryText(ctx.repo.chunks, mapEntry)));
    return basisFrom(map, tar.chunks);
  } catch (err) {
    ctx.logger.warn(
      `the parent base backup's chunk map is unreadable (${(err as Error).message}); storing changed chunks whole`,
    );
    return undefined;
  }
}
