import { closeSync, fstatSync, openSync } from "node:fs";
import { FILE_MODE, readFullySync, writeFullySync } from "../util/fs.js";
import { parentPort, workerData } from "node:worker_threads";
import { chunkId } from "./chunk-id.js";
import { Chunker } from "./chunker.js";
import { FrameEncoder, isWorthDelta, objectBody } from "./frame-encoder.js";
import { FRAME_TARGET_BYTES, PACKED_CHUNK_MAX, type FrameEncoding, type PackFrame } from "./pack-format.js";
import type { EncodedJob, FromWorker, StoreNote, ToWorker, WirePiece } from "./store-pool.js";
import type { PackTarget } from "./worker-packs.js";

/**
 * A worker thread of a backup (store-pool.ts): reads a job's bytes — pieces of files the
 * main thread opened, or a whole file, cut here into content-defined chunks — hashes the
 * chunks, keeps them until told which are new, then compresses those: small ones into
 * frames of consecutive chunks, large ones each on its own, changed ones into `zstd-ref`
 * bodies against their previous version. Only compressed bytes and ids go back, so the
 * plain data never crosses threads.
 */
const { level } = workerData as { level: number };
const encoder = new FrameEncoder(level);
const port = parentPort!;
/** Read jobs waiting for their decisions; `shared`: their bytes are in a shared slab, not ours to reuse. */
const held = new Map<number, { data: Buffer; sizes: number[]; ids: string[]; shared: boolean }>();
let slabs: SharedArrayBuffer[] = [];

port.on("message", (message: ToWorker | StoreNote) => {
  if (message.t === "slabs") {
    slabs = message.slabs;
    return;
  }
  if (message.t === "drop") {
    const job = held.get(message.job)!;
    held.delete(message.job);
    if (!job.shared) recycle(job.data);
    return;
  }
  try {
    if (message.t === "encode") {
      const job = held.get(message.job)!;
      held.delete(message.job);
      const encoded = encode(job, message.decisions, message.targets, message.pack);
      const transfer = [
        ...encoded.frames.map((f) => f.body),
        ...encoded.objects.flatMap((o) => ("body" in o ? [o.body] : [])),
        ...encoded.refs.map((r) => r.body),
      ].map((b) => b.buffer as ArrayBuffer);
      // Bodies are copies, except a raw one that is the whole read buffer (a job filling a
      // power-of-two buffer exactly): that buffer goes to the main thread and is not ours.
      if (!job.shared && !transfer.includes(job.data.buffer as ArrayBuffer)) recycle(job.data);
      port.postMessage({ t: "encoded", job: message.job, encoded } satisfies FromWorker, transfer);
      return;
    }
    const { data, sizes, shared } =
      message.t === "read"
        ? { ...readPieces(message.pieces, message.sizes), sizes: message.sizes }
        : { ...readAndCut(message.path, message.limit, message.chunker), shared: false };
    const ids: string[] = [];
    let at = 0;
    for (const size of sizes) {
      ids.push(chunkId(data.subarray(at, at + size)));
      at += size;
    }
    held.set(message.job, { data, sizes, ids, shared });
    // A one-chunk file's hash is its chunk's id: no second pass.
    const whole = message.t === "readFile" ? (ids.length === 1 ? ids[0] : chunkId(data)) : undefined;
    post({
      t: "read",
      job: message.job,
      ids,
      sizes,
      length: data.length,
      ...(whole ? { sha256: whole } : {}),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    post({ t: "error", job: message.job, message: e.message, ...(e.code ? { code: e.code } : {}) });
  }
});

function post(message: FromWorker): void {
  port.postMessage(message);
}

/**
 * The job's bytes, in order; a file that shrank since it was planned reads as zeros past
 * its end. A job whose bytes are one range of a shared slab (a stream's) is read in place.
 */
function readPieces(pieces: WirePiece[], sizes: number[]): { data: Buffer; shared: boolean } {
  const total = sizes.reduce((a, b) => a + b, 0);
  const only = pieces.length === 1 ? pieces[0]! : undefined;
  if (only && "slab" in only && only.length === total) {
    return { data: Buffer.from(slabs[only.slab]!, only.position, total), shared: true };
  }
  const data = buffer(total);
  let at = 0;
  for (const piece of pieces) {
    if ("bytes" in piece || "slab" in piece) {
      const bytes =
        "bytes" in piece ? piece.bytes : new Uint8Array(slabs[piece.slab]!, piece.position, piece.length);
      data.set(bytes, at);
      at += bytes.length;
      continue;
    }
    const done = readFullySync(piece.fd, data, at, piece.length, piece.position);
    // Truncated while we read (VACUUM, a dropped table): pg_basebackup pads with zeros too;
    // WAL replay from the backup's start makes the file right.
    if (done < piece.length) data.fill(0, at + done, at + piece.length);
    at += piece.length;
  }
  return { data, shared: false };
}

/** A file's bytes (at most `limit`) and its content-defined chunks' sizes. */
function readAndCut(path: string, limit: number, params: ConstructorParameters<typeof Chunker>[0]) {
  const fd = openSync(path, "r");
  let data: Buffer;
  try {
    const into = buffer(limit);
    data = into.subarray(0, readFullySync(fd, into, 0, limit, 0));
  } finally {
    closeSync(fd);
  }
  const chunker = new Chunker(params);
  const sizes = chunker.push(data).map((c) => c.length);
  const last = chunker.finish();
  if (last) sizes.push(last.length);
  return { data, sizes };
}

/**
 * Read buffers are reused: allocating one per job (2 GB of them for a 2 GB tree) left
 * tens of megabytes per thread waiting for garbage collection.
 */
const spare = new Map<number, ArrayBuffer[]>();
/** Spare buffers kept per size class (powers of two from 64 KiB). */
const SPARES_PER_CLASS = 4;

/** A buffer of `size` bytes, in a power-of-two size class, from the spares when one is free. */
function buffer(size: number): Buffer {
  const capacity = 2 ** Math.ceil(Math.log2(Math.max(size, 64 * 1024)));
  const found = spare.get(capacity)?.pop() ?? new ArrayBuffer(capacity);
  return Buffer.from(found, 0, size);
}

function recycle(data: Buffer): void {
  const b = data.buffer as ArrayBuffer;
  let list = spare.get(b.byteLength);
  if (!list) spare.set(b.byteLength, (list = []));
  if (list.length < SPARES_PER_CLASS) list.push(b);
}

/**
 * Compresses the chunks the main thread marked new (`true`) or gave a delta basis: small
 * ones into frames of consecutive chunks (sealed at FRAME_TARGET_BYTES, as PackBuilder
 * seals them), large ones each on its own. With `pack`, frames are appended to its file
 * here and only their places go back (see worker-packs.ts).
 */
function encode(
  job: { data: Buffer; sizes: number[]; ids: string[] },
  decisions: (boolean | { ref: string; base: Uint8Array })[],
  targets: (string | undefined)[],
  pack: PackTarget | undefined,
): EncodedJob {
  const out: EncodedJob = { frames: [], objects: [], refs: [] };
  const appender = pack ? new PackAppender(pack) : undefined;
  try {
    let plain: Buffer[] = [];
    let chunks: [string, number][] = [];
    let bytes = 0;
    const seal = (): void => {
      if (chunks.length === 0) return;
      const { encoding, body } = encoder.encodeFrame(plain.length === 1 ? plain[0]! : Buffer.concat(plain));
      if (appender) appender.append(encoding, body, chunks);
      else out.frames.push({ encoding, body: exact(body), chunks });
      plain = [];
      chunks = [];
      bytes = 0;
    };
    let at = 0;
    job.sizes.forEach((size, i) => {
      const data = job.data.subarray(at, at + size);
      at += size;
      const decision = decisions[i];
      const id = job.ids[i]!;
      if (!decision) return;
      if (decision !== true) {
        const body = encoder.encodeRef(data, decision.base);
        if (isWorthDelta(body.length, size)) {
          if (appender) appender.append("zstd-ref", body, [[id, size]], decision.ref);
          else out.refs.push({ id, size, body: exact(body), ref: decision.ref });
          return;
        }
      }
      if (size >= PACKED_CHUNK_MAX) {
        const { encoding, body } = encoder.encodeFrame(data);
        const temp = targets[i];
        if (temp) out.objects.push({ id, temp, bytes: writeObject(temp, encoding, body) });
        else out.objects.push({ id, encoding, body: exact(body) });
        return;
      }
      plain.push(data);
      chunks.push([id, size]);
      bytes += size;
      if (bytes >= FRAME_TARGET_BYTES) seal();
    });
    seal();
  } finally {
    appender?.close();
  }
  if (appender) out.written = { pack: pack!.id, frames: appender.frames };
  return out;
}

/**
 * Appends a job's frames to a pack's file, opened at the first frame (created by the
 * first job of the pack) and closed at the end of the job. The file's length says where
 * the next frame goes: this thread is the only one writing it.
 */
class PackAppender {
  readonly frames: PackFrame[] = [];
  readonly #temp: string;
  #fd: number | undefined;
  #offset = 0;

  constructor(pack: PackTarget) {
    this.#temp = pack.temp;
  }

  append(encoding: FrameEncoding, body: Uint8Array, chunks: [string, number][], ref?: string): void {
    if (this.#fd === undefined) {
      this.#fd = openSync(this.#temp, "a", FILE_MODE);
      this.#offset = fstatSync(this.#fd).size;
    }
    writeFullySync(this.#fd, body);
    this.frames.push({
      offset: this.#offset,
      length: body.length,
      encoding,
      ...(ref ? { ref } : {}),
      chunks,
    });
    this.#offset += body.length;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * Writes a chunk object's body (encoding byte, then bytes) to a new file; the main thread
 * makes it durable and gives it its name (a deferred put). Returns the bytes written.
 */
function writeObject(temp: string, encoding: "zstd" | "raw", body: Uint8Array): number {
  const fd = openSync(temp, "wx", FILE_MODE);
  try {
    for (const part of objectBody(encoding, body)) writeFullySync(fd, part);
  } finally {
    closeSync(fd);
  }
  return body.length + 1;
}

/**
 * A copy in an ArrayBuffer of its own, to be transferred: a view into a larger buffer
 * (zstd's output, the job's read buffer) would otherwise be cloned whole.
 */
function exact(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : new Uint8Array(bytes);
}
