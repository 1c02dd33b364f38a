import { createHash, webcrypto } from "node:crypto";

/** Below this size a chunk is hashed on this thread: handing it to the thread pool costs more. */
const SYNC_HASH_MAX = 64 * 1024;

/** SHA-256 of the plain bytes, lowercase hex: a chunk's id. */
export function chunkId(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The same hash computed on libuv's thread pool (WebCrypto), so hashing runs on another
 * core while this thread chunks and compresses the next data.
 */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  if (data.length <= SYNC_HASH_MAX) return chunkId(data);
  return Buffer.from(await webcrypto.subtle.digest("SHA-256", data)).toString("hex");
}
