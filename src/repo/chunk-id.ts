import { createHash } from "node:crypto";

/**
 * SHA-256 of the plain bytes, lowercase hex: a chunk's id. Computed on this thread: with
 * the CPU's SHA extensions that is about 2 GB/s, and handing chunks to the thread pool
 * (WebCrypto) copied every chunk first. Measured on 2 cores: backups and restores were
 * 5% faster and used 10% less CPU without the thread pool.
 */
export function chunkId(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const CHUNK_ID = /^[0-9a-f]{64}$/;

/** True for a well-formed chunk id (64 lowercase hex digits). */
export function isChunkId(id: unknown): id is string {
  return typeof id === "string" && CHUNK_ID.test(id);
}

/** Repository key of a chunk object: fan out over 256 folders by the first byte of its hash. */
export function chunkKey(id: string): string {
  return `data/${id.slice(0, 2)}/${id}`;
}
