// The low-level binding compresses into a buffer we keep (the Compressor class allocates
// a worst-case buffer per call: most of a worker thread's garbage).
import binding from "zstd-napi/binding.js";

const { CCtx, CParameter, compressBound } = binding;

/** Sample size and the ratio above which data is stored without trying zstd on all of it. */
const SAMPLE_BYTES = 16 * 1024;
const INCOMPRESSIBLE_RATIO = 0.97;
/** A chunk is stored against its previous version only when that makes it this many times smaller. */
const DELTA_GAIN = 8;

/** First byte of a chunk object: how the rest is encoded (repository-format.md). */
export const OBJECT_RAW = 0;
export const OBJECT_ZSTD = 1;
const RAW_TAG = Uint8Array.of(OBJECT_RAW);
const ZSTD_TAG = Uint8Array.of(OBJECT_ZSTD);

/** A chunk object's body as parts: the encoding byte, then the encoded bytes. */
export function objectBody(encoding: "zstd" | "raw", body: Uint8Array): Uint8Array[] {
  return [encoding === "zstd" ? ZSTD_TAG : RAW_TAG, body];
}

/** True when a delta of `deltaBytes` is worth storing instead of the `plainBytes` chunk it encodes. */
export function isWorthDelta(deltaBytes: number, plainBytes: number): boolean {
  return deltaBytes * DELTA_GAIN <= plainBytes;
}

/**
 * Encodes plain bytes for the repository: a frame (zstd, or raw when zstd does not shrink
 * them) or a `zstd-ref` body against another chunk. Holds its own zstd contexts, so each
 * thread that encodes (the chunk store, a base backup's worker threads) has one.
 */
export class FrameEncoder {
  readonly level: number;
  readonly #cctx = new CCtx();
  /** A separate context for `zstd-ref` bodies: each call loads its own dictionary. */
  readonly #refCctx = new CCtx();
  #scratch = Buffer.alloc(0);

  constructor(level = 3) {
    this.level = level;
    this.#cctx.setParameter(CParameter.compressionLevel, level);
    this.#refCctx.setParameter(CParameter.compressionLevel, level);
  }

  /**
   * zstd when it shrinks the data, raw otherwise — for a chunk object or a frame of a pack.
   * Large data is first tried on a sample: most backed-up bytes are already compressed
   * (images, archives), and compressing them whole only to throw the result away would
   * cost most of a backup's CPU time.
   */
  encodeFrame(data: Uint8Array): { encoding: "zstd" | "raw"; body: Uint8Array } {
    if (data.length > SAMPLE_BYTES * 2) {
      const sample = this.#compress(this.#cctx, data.subarray(0, SAMPLE_BYTES));
      if (sample > SAMPLE_BYTES * INCOMPRESSIBLE_RATIO) return { encoding: "raw", body: data };
    }
    const length = this.#compress(this.#cctx, data);
    if (length + 1 < data.length)
      return { encoding: "zstd", body: new Uint8Array(this.#scratch.subarray(0, length)) };
    return { encoding: "raw", body: data };
  }

  /** Compresses a chunk with another chunk's plain bytes as the dictionary (a `zstd-ref` body). */
  encodeRef(data: Uint8Array, base: Uint8Array): Uint8Array {
    this.#refCctx.loadDictionary(base);
    // The length first: compressing may replace the scratch buffer with a larger one.
    const length = this.#compress(this.#refCctx, data);
    return new Uint8Array(this.#scratch.subarray(0, length));
  }

  /** Compresses into the scratch buffer (grown as needed); returns the compressed length. */
  #compress(cctx: InstanceType<typeof CCtx>, data: Uint8Array): number {
    const bound = compressBound(data.length);
    if (this.#scratch.length < bound) this.#scratch = Buffer.allocUnsafe(bound);
    return cctx.compress2(this.#scratch, data);
  }
}
