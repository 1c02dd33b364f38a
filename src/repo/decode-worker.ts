import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { Decompressor } from "zstd-napi";
import type { DecodeJob, DecodeReply, WireFrame } from "./decode-pool.js";

/**
 * A worker thread of a parallel restore (decode-pool.ts): reads a frame from its pack in
 * a local repository, decodes it (a `zstd-ref` frame with its dictionary chunk, itself
 * decoded from its own frame), checks every wanted chunk against its id and sends back
 * their bytes in one transferred buffer.
 */
const { root } = workerData as { root: string };
const port = parentPort!;
const decompressor = new Decompressor();
const refDecompressor = new Decompressor();
/** Open pack files and decoded dictionary frames, a few of each (consecutive chunks share them). */
const packs = new Map<string, number>();
const dictionaries = new Map<string, Buffer>();
const KEEP = 8;

class Damage extends Error {}

port.on("message", (job: DecodeJob) => {
  try {
    const frame = decodeFrame(job.frame, job.ref, job.chunks[0]![0]);
    const parts: Buffer[] = [];
    for (const [id, start, size] of job.chunks) {
      const data = frame.subarray(start, start + size);
      if (data.length !== size || sha256(data) !== id) throw damaged(id, job.ref);
      parts.push(data);
    }
    const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    // Transferred when it is a buffer of its own; a view into a larger one is copied first.
    const own =
      whole.byteOffset === 0 && whole.buffer.byteLength === whole.length ? whole : Buffer.from(whole);
    const reply: DecodeReply = { job: job.job, data: own, sizes: job.chunks.map((c) => c[2]) };
    port.postMessage(reply, [own.buffer as ArrayBuffer]);
  } catch (err) {
    const e = err as Error;
    const reply: DecodeReply = { job: job.job, error: e.message, damage: err instanceof Damage };
    port.postMessage(reply);
  }
});

function decodeFrame(frame: WireFrame, ref: DecodeJob["ref"], id: string): Buffer {
  const body = readFrame(frame, id);
  try {
    if (frame.encoding === "raw") return body;
    if (frame.encoding === "zstd") return decompressor.decompress(body);
    refDecompressor.loadDictionary(dictionary(ref!));
    return refDecompressor.decompress(body);
  } catch (err) {
    throw new Damage(
      `chunk ${id} is damaged: frame at byte ${frame.offset} of pack ${frame.pack}: ${(err as Error).message}`,
    );
  }
}

/** A `zstd-ref` frame's dictionary: its ref chunk's bytes, not hash-checked here (see damaged()). */
function dictionary(ref: NonNullable<DecodeJob["ref"]>): Buffer {
  const key = `${ref.frame.pack}@${ref.frame.offset}`;
  let frame = dictionaries.get(key);
  if (!frame) {
    const body = readFrame(ref.frame, ref.id);
    frame = ref.frame.encoding === "raw" ? body : decompressor.decompress(body);
    dictionaries.set(key, frame);
    if (dictionaries.size > KEEP) dictionaries.delete(dictionaries.keys().next().value!);
  }
  return frame.subarray(ref.start, ref.start + ref.size);
}

function readFrame(frame: WireFrame, id: string): Buffer {
  let fd = packs.get(frame.pack);
  if (fd === undefined) {
    const file = path.join(root, "packs", frame.pack.slice(0, 2), frame.pack);
    try {
      fd = openSync(file, "r");
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      throw new Damage(
        `chunk ${id} is missing: its pack ${frame.pack} ${missing ? "is missing" : `cannot be read: ${(err as Error).message}`}`,
      );
    }
    packs.set(frame.pack, fd);
    if (packs.size > KEEP) {
      const [oldest, oldFd] = packs.entries().next().value!;
      packs.delete(oldest);
      closeSync(oldFd);
    }
  }
  const body = Buffer.allocUnsafe(frame.length);
  let done = 0;
  while (done < frame.length) {
    const n = readSync(fd, body, done, frame.length - done, frame.offset + done);
    if (n === 0) throw new Damage(`chunk ${id} is damaged: its frame in pack ${frame.pack} is too short`);
    done += n;
  }
  return body;
}

/** The damage to name when a chunk does not match its id: its dictionary's, if that is the damaged one. */
function damaged(id: string, ref: DecodeJob["ref"]): Damage {
  if (ref) {
    const base = dictionary(ref);
    if (sha256(base) !== ref.id) {
      return new Damage(
        `chunk ${id} cannot be decoded: chunk ${ref.id} is damaged: its content does not match its hash`,
      );
    }
  }
  return new Damage(`chunk ${id} is damaged: its content does not match its hash`);
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
