import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { RepoCorruptError } from "../errors.js";
import type { ChunkStore } from "./chunk-store.js";
import type { FileEntry } from "./snapshot.js";

/**
 * A file entry's content as a stream: chunks read in order (the next one fetched while
 * the current one is consumed), each verified by the chunk store, and the whole-file
 * SHA-256 checked at the end — the stream fails instead of ending if anything is off,
 * so a consumer (a file, pg_restore's stdin) never takes damaged data as complete.
 */
export function entryContent(chunks: ChunkStore, entry: FileEntry): Readable {
  return Readable.from(verifiedChunks(chunks, entry), { objectMode: false });
}

/** The chunks of a file entry in order, each verified, the whole-file hash checked after the last. */
export async function* verifiedChunks(chunks: ChunkStore, entry: FileEntry): AsyncGenerator<Buffer> {
  // A one-chunk file's hash is its chunk's id, which the chunk store has just checked.
  const hash =
    entry.chunks.length === 1 && entry.chunks[0] === entry.sha256 ? undefined : createHash("sha256");
  let size = 0;
  let next = entry.chunks.length > 0 ? chunks.get(entry.chunks[0]!) : undefined;
  for (let i = 0; i < entry.chunks.length; i++) {
    const data = await next!;
    next = i + 1 < entry.chunks.length ? chunks.get(entry.chunks[i + 1]!) : undefined;
    next?.catch(() => undefined);
    hash?.update(data);
    size += data.length;
    yield data;
  }
  const whole = hash ? hash.digest("hex") : entry.sha256;
  if (size !== entry.size || whole !== entry.sha256) {
    throw new RepoCorruptError(`${entry.path}: content does not match the snapshot's hash`);
  }
}

/** A small file entry's whole content as text, verified like entryContent. */
export async function entryText(chunks: ChunkStore, entry: FileEntry): Promise<string> {
  const parts: Buffer[] = [];
  for await (const buf of verifiedChunks(chunks, entry)) parts.push(buf);
  return Buffer.concat(parts).toString("utf8");
}
