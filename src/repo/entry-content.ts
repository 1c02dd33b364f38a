import { createHash, type Hash } from "node:crypto";
import { Readable } from "node:stream";
import { RepoCorruptError } from "../errors.js";
import type { ChunkStore } from "./chunk-store.js";
import type { FileEntry } from "./snapshot.js";

/**
 * A file entry's content as a stream: chunks read in order (the next one fetched while
 * the current one is consumed), each verified by the chunk store, and the size and the
 * whole-file SHA-256 (when the entry has one) checked at the end — the stream fails
 * instead of ending if anything is off, so a consumer (a file, pg_restore's stdin) never
 * takes damaged data as complete.
 */
export function entryContent(
  chunks: ChunkStore,
  entry: FileEntry,
  options: { owned?: boolean } = {},
): Readable {
  return Readable.from(verifiedChunks(chunks, entry, options), { objectMode: false });
}

/** Chunks read ahead of the consumer: at most this many, and about this many bytes. */
const READ_AHEAD_CHUNKS = 8;
const READ_AHEAD_BYTES = 16 * 1024 * 1024;
/** Assumed size of a chunk object whose size is not known before it is read. */
const UNKNOWN_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The chunks of a file entry in order, each verified, the whole-file hash checked after
 * the last. Several chunks are fetched ahead (bounded in count and bytes), so the reads
 * on the thread pool overlap with decoding and the consumer's writes.
 */
export async function* verifiedChunks(
  chunks: ChunkStore,
  entry: FileEntry,
  /** `owned`: each buffer yielded is the consumer's to change (see ChunkStore.getOwned). */
  options: { owned?: boolean } = {},
): AsyncGenerator<Buffer> {
  const check = new EntryCheck(entry);
  const ids = entry.chunks;
  const ahead: { data: Promise<Buffer>; bytes: number }[] = [];
  let aheadBytes = 0;
  let next = 0;
  const fill = (): void => {
    while (
      next < ids.length &&
      (ahead.length === 0 || (ahead.length < READ_AHEAD_CHUNKS && aheadBytes < READ_AHEAD_BYTES))
    ) {
      const id = ids[next++]!;
      const data = options.owned ? chunks.getOwned(id) : chunks.get(id);
      data.catch(() => undefined); // awaited in order below
      const bytes = chunks.locate(id)?.size ?? UNKNOWN_CHUNK_BYTES;
      ahead.push({ data, bytes });
      aheadBytes += bytes;
    }
  };
  fill();
  while (ahead.length > 0) {
    const head = ahead.shift()!;
    aheadBytes -= head.bytes;
    const data = await head.data;
    fill();
    check.update(data);
    yield data;
  }
  check.finish();
}

/**
 * Checks a file entry's content as it goes by, chunk after chunk: its size, and its
 * whole-file SHA-256 when it has one. A one-chunk file's hash is its chunk's id, which the
 * reader has just checked; a dump has no whole-stream hash (its chunks are each checked).
 */
export class EntryCheck {
  readonly #entry: FileEntry;
  readonly #hash: Hash | undefined;
  #size = 0;

  constructor(entry: FileEntry) {
    this.#entry = entry;
    const byChunk = entry.chunks.length === 1 && entry.chunks[0] === entry.sha256;
    this.#hash = entry.sha256 === undefined || byChunk ? undefined : createHash("sha256");
  }

  update(data: Uint8Array): void {
    this.#hash?.update(data);
    this.#size += data.length;
  }

  /** Throws a RepoCorruptError when what went by is not the entry's content. */
  finish(): void {
    const whole = this.#hash ? this.#hash.digest("hex") : this.#entry.sha256;
    if (this.#size !== this.#entry.size || whole !== this.#entry.sha256) {
      throw new RepoCorruptError(`${this.#entry.path}: content does not match the snapshot's hash`);
    }
  }
}

/** A small file entry's whole content as text, verified like entryContent. */
export async function entryText(chunks: ChunkStore, entry: FileEntry): Promise<string> {
  const parts: Buffer[] = [];
  for await (const buf of verifiedChunks(chunks, entry)) parts.push(buf);
  return Buffer.concat(parts).toString("utf8");
}
