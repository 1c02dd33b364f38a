import { TAR_CHUNK_BYTES } from "./tar-chunker.js";
import { tarPadding, TAR_END } from "./tar-header.js";

/** Where a piece of a planned chunk's bytes come from: bytes in hand, or a range of an open file. */
export type Piece<F> = { bytes: Uint8Array } | { file: F; position: number; length: number };

/** A chunk of a tar stream not yet read: its pieces, and for an aligned piece of a large member, where. */
export interface PlannedChunk<F> {
  size: number;
  pieces: Piece<F>[];
  member?: string;
  offset?: number;
}

/**
 * Plans the chunks of a tar stream from its members' headers and sizes alone, with the
 * cuts TarChunker makes in a stream (tar-chunker.ts): a member of 256 KiB or more ends the
 * chunk after its header and is cut at every 256 KiB of its content; smaller members are
 * packed together up to about 256 KiB. The bytes are read later, by whoever holds the plan.
 */
export class TarPlanner<F> {
  #pieces: Piece<F>[] = [];
  #bytes = 0;
  readonly #zeros = new Map<number, Uint8Array>();

  /** Adds a member: its header block, and (for a file) its content in `file`. Returns completed chunks. */
  add(path: string, header: Uint8Array, size: number, file?: F): PlannedChunk<F>[] {
    const out: PlannedChunk<F>[] = [];
    this.#append({ bytes: header }, header.length);
    if (size === 0 || file === undefined) return out;
    if (size >= TAR_CHUNK_BYTES) {
      this.#cut(out);
      for (let offset = 0; offset < size; offset += TAR_CHUNK_BYTES) {
        const length = Math.min(TAR_CHUNK_BYTES, size - offset);
        out.push({ size: length, pieces: [{ file, position: offset, length }], member: path, offset });
      }
    } else {
      this.#append({ file, position: 0, length: size }, size);
    }
    const padding = tarPadding(size);
    if (padding > 0) this.#append({ bytes: this.#zeroBytes(padding) }, padding);
    if (this.#bytes >= TAR_CHUNK_BYTES) this.#cut(out);
    return out;
  }

  /** Ends the archive (two zero blocks); returns the last chunk. */
  finish(): PlannedChunk<F>[] {
    const out: PlannedChunk<F>[] = [];
    this.#append({ bytes: TAR_END }, TAR_END.length);
    this.#cut(out);
    return out;
  }

  #append(piece: Piece<F>, length: number): void {
    this.#pieces.push(piece);
    this.#bytes += length;
  }

  #cut(out: PlannedChunk<F>[]): void {
    if (this.#bytes === 0) return;
    out.push({ size: this.#bytes, pieces: this.#pieces });
    this.#pieces = [];
    this.#bytes = 0;
  }

  #zeroBytes(n: number): Uint8Array {
    let z = this.#zeros.get(n);
    if (!z) this.#zeros.set(n, (z = new Uint8Array(n)));
    return z;
  }
}
