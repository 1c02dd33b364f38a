/** Data of a member this large or larger is cut at every multiple of this offset. */
export const TAR_CHUNK_BYTES = 1024 * 1024;

/**
 * Cuts a tar stream (pg_basebackup's) into chunks at file boundaries rather than with a
 * rolling hash: a file of 1 MiB or more starts a new chunk after its header and is cut
 * every 1 MiB of its own content, so a changed page changes one aligned chunk of its
 * relation file and the rest deduplicate against earlier base backups; smaller files are
 * packed together up to about 1 MiB. Costs no hashing per byte — the content-defined
 * chunker's rolling hash is the slowest part of a backup of a large cluster.
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

  /** Feeds bytes; returns the chunks completed by them. */
  push(buf: Buffer): Buffer[] {
    const out: Buffer[] = [];
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
  finish(): Buffer | undefined {
    const out: Buffer[] = [];
    this.#cut(out);
    return out[0];
  }

  #startMember(out: Buffer[]): void {
    const h = this.#header;
    this.#header = Buffer.alloc(0);
    if (h.every((b) => b === 0)) return;
    const size = tarSize(h.subarray(124, 136));
    this.#remaining = size;
    this.#padding = (512 - (size % 512)) % 512;
    this.#offset = 0;
    this.#big = size >= TAR_CHUNK_BYTES;
    if (this.#big) this.#cut(out);
    if (size > 0) this.#state = "data";
    else this.#endMember(out);
  }

  #endData(out: Buffer[]): void {
    if (this.#padding > 0) this.#state = "pad";
    else this.#endMember(out);
  }

  #endMember(out: Buffer[]): void {
    this.#state = "header";
    if (this.#bytes >= TAR_CHUNK_BYTES) this.#cut(out);
  }

  #append(slice: Buffer): void {
    if (slice.length === 0) return;
    this.#parts.push(slice);
    this.#bytes += slice.length;
  }

  #cut(out: Buffer[]): void {
    if (this.#bytes === 0) return;
    out.push(
      this.#parts.length === 1 ? Buffer.from(this.#parts[0]!) : Buffer.concat(this.#parts, this.#bytes),
    );
    this.#parts = [];
    this.#bytes = 0;
  }
}

function tarSize(field: Buffer): number {
  if ((field[0]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const end = field.indexOf(0);
  const text = field
    .subarray(0, end === -1 ? field.length : end)
    .toString("latin1")
    .trim();
  return text === "" ? 0 : parseInt(text, 8);
}
