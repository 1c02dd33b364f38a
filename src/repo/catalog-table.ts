import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { ensureDir, removeStaleTemps, writeFileAtomic } from "../util/fs.js";
import { ChunkTable } from "./chunk-table.js";

/**
 * The chunk table of every pack, saved whole in this machine's cache (not in the
 * repository): what the pack indexes say, in the form the catalog holds it, so that
 * opening the repository copies a few arrays instead of decoding every pack index and
 * adding it chunk by chunk (about 4 µs a chunk with a cold JIT: 80 ms at each start of a
 * backup of the 2 GB bench tree, seconds for a repository of a million chunks). The pack
 * indexes stay the truth: the saved table is used only when each pack it covers is still
 * there with the same pack and index sizes, and is ignored (and saved anew) otherwise.
 * See docs/architecture.md, "Chunk index memory".
 */
export class SavedTable {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  /** The saved bytes, or undefined when there are none (or they cannot be read). */
  async read(): Promise<Buffer | undefined> {
    return fs.readFile(this.file).catch(() => undefined);
  }

  /**
   * Saves the bytes under a temp name, then renames: a reader sees the old table or the
   * new one. Not synced: a table cut short by a power loss fails its checksum and is
   * ignored. Temp files a killed run left behind, an hour old or more, are removed first.
   */
  async write(bytes: Buffer, now = Date.now()): Promise<void> {
    const dir = path.dirname(this.file);
    await ensureDir(dir);
    await removeStaleTemps(dir, STALE_TEMP_MS, now);
    await writeFileAtomic(this.file, bytes, { sync: false });
  }
}

/** A temp file this old is a killed run's leftover, not another run's write under way. */
const STALE_TEMP_MS = 60 * 60 * 1000;
const MAGIC = "PRSCTAB1";
const HASH_BYTES = 32;

/** A pack the saved table covers: its id and the sizes of its pack and index objects. */
export interface CoveredPack {
  id: string;
  size: number;
  indexSize: number;
}

export function encodeCatalogTable(packs: readonly CoveredPack[], table: ChunkTable): Buffer {
  const covered = Buffer.from(JSON.stringify(packs.map((p) => [p.id, p.size, p.indexSize])), "utf8");
  const length = Buffer.alloc(4);
  length.writeUInt32LE(covered.length, 0);
  const body = Buffer.concat([Buffer.from(MAGIC, "latin1"), length, covered, table.toBytes()]);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}

/** The saved table and the packs it covers, in the table's pack order; throws a plain Error when damaged. */
export function decodeCatalogTable(bytes: Buffer): { packs: CoveredPack[]; table: ChunkTable } {
  if (bytes.length < MAGIC.length + 4 + HASH_BYTES || bytes.toString("latin1", 0, MAGIC.length) !== MAGIC) {
    throw new Error("not a catalog table");
  }
  const body = bytes.subarray(0, bytes.length - HASH_BYTES);
  if (!createHash("sha256").update(body).digest().equals(bytes.subarray(body.length))) {
    throw new Error("catalog table does not match its checksum");
  }
  const coveredLength = body.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  const covered = JSON.parse(body.toString("utf8", start, start + coveredLength)) as [
    string,
    number,
    number,
  ][];
  const table = ChunkTable.fromBytes(body.subarray(start + coveredLength));
  const packs = covered.map(([id, size, indexSize]) => ({ id, size, indexSize }));
  if (packs.length !== table.packIds.length || packs.some((p, i) => p.id !== table.packIds[i])) {
    throw new Error("catalog table's packs do not match its chunk table");
  }
  return { packs, table };
}
