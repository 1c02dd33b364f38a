import { tarPath, tarSize } from "./tar-scan.js";

/**
 * Data of a member this large or larger is cut at every multiple of this offset. Under the
 * repository's packed-chunk limit, so that a changed chunk can be stored as a delta.
 */
export const TAR_CHUNK_BYTES = 256 * 1024;

/** A cut chunk; `member` and `offset` are set for an aligned piece of a large member's data. */
export interface TarChunk {
  data: Buffer;
  member?: string;
  /** Offset of `data` in the member's content, a multiple of TAR_CHUNK_BYTES. */
  offset?: number;
}

/**
 * Cuts a tar stream (pg_basebackup's) into chunks at file boundaries rather than with a
 * rolling hash: a file of 256 KiB or more starts a new chunk after its header and is cut
 * every 256 KiB of its own content, so a changed page changes one aligned chunk of its
 * relation file, the rest deduplicate against earlier base backups, and the changed chunk
 * has a previous version at the same (file, offset) to be stored as a delta against;
 * smaller files are packed together up to about 256 KiB. Costs no hashing per byte — the
 * content-defined chunker's rolling hash is the slowest part of a backup of a large cluster.
 */
export class TarChunker {
  #parts: Buffer[] = [];
  #bytes = 0;
  #header = Buffer.alloc(0);
  #state: "header" | "data" | "pad" = "header";
  #remaining = 0;
  #padding = 0;
  #offset = 0;
  #big = false;
  #member = "";
  /** Where the chunk being filled starts in the big member's data. */
  #chunkStart: number | undefined;

  /** Feeds bytes; returns the chunks completed by them. */
  push(buf: Buffer): TarChunk[] {
    const out: TarChunk[] = [];
    let off = 0;
    while (off < buf.length) {
      const left = buf.length - off;
      if (this.#state === "header") {
        const take = Math.min(512 - this.#header.length, left);
        const slice = buf.subarray(off, off + take);
        this.#append(slice);
        this.#header = this.#header.length === 0 ? Buffer.from(slice) : Buffer.concat([this.#header, slice]);
        off += take;
        if (this.#header.length === 512) this.#startMember(out);
      } else if (this.#state === "data") {
        const limit = this.#big ? TAR_CHUNK_BYTES - (this.#offset % TAR_CHUNK_BYTES) : this.#remaining;
        const take = Math.min(this.#remaining, left, limit);
        if (this.#big && this.#bytes === 0) this.#chunkStart = this.#offset;
        this.#append(buf.subarray(off, off + take));
        off += take;
        this.#offset += take;
        this.#remaining -= take;
        if (this.#big && (this.#offset % TAR_CHUNK_BYTES === 0 || this.#remaining === 0)) this.#cut(out);
        if (this.#remaining === 0) this.#endData(out);
      } else {
        const take = Math.min(this.#padding, left);
        this.#append(buf.subarray(off, off + take));
        off += take;
        this.#padding -= take;
        if (this.#padding === 0) this.#endMember(out);
      }
    }
    return out;
  }

  /** The last chunk, if any bytes are left. */
  finish(): TarChunk | undefined {
    const out: TarChunk[] = [];
    this.#cut(out);
    return out[0];
  }

  #startMember(out: TarChunk[]): void {
    const h = this.#header;
    this.#header = Buffer.alloc(0);
    if (h.every((b) => b === 0)) return;
    const size = tarSize(h.subarray(124, 136));
    this.#member = tarPath(h);
    this.#remaining = size;
    this.#padding = (512 - (size % 512)) % 512;
    this.#offset = 0;
    this.#big = size >= TAR_CHUNK_BYTES;
    if (this.#big) this.#cut(out);
    if (size > 0) this.#state = "data";
    else this.#endMember(out);
  }

  #endData(out: TarChunk[]): void {
    if (this.#padding > 0) this.#state = "pad";
    else this.#endMember(out);
  }

  #endMember(out: TarChunk[]): void {
    this.#state = "header";
    if (this.#bytes >= TAR_CHUNK_BYTES) this.#cut(out);
  }

  #append(slice: Buffer): void {
    if (slice.length === 0) return;
    this.#parts.push(slice);
    this.#bytes += slice.length;
  }

  #cut(out: TarChunk[]): void {
    if (this.#bytes === 0) return;
    const data =
      this.#parts.length === 1 ? Buffer.from(this.#parts[0]!) : Buffer.concat(this.#parts, this.#bytes);
    const start = this.#chunkStart;
    out.push(start === undefined ? { data } : { data, member: this.#member, offset: start });
    this.#parts = [];
    this.#bytes = 0;
    this.#chunkStart = undefined;
  }
}
