/**
 * Merges each table's data blocks in a custom-format dump on its way to `pg_restore`.
 *
 * `pg_dump` (≤ 18, uncompressed) writes every row as a block of its own, and `pg_restore`
 * hands every block to libpq as one `PQputCopyData` call, which the server receives as one
 * CopyData message: ten million rows cost ten million trips through both. Measured on the
 * benchmark's dump fed to `pg_restore` from a pipe, merging the rows of each piece of the
 * stream into one block cut `pg_restore`'s own CPU time from 0.7–1.1 to 0.3–0.6 core-s and
 * the machine's from 11.9–12.7 to 10.5–11.9 core-s (docs/postgres.md). The COPY data is
 * the same bytes in the same order: `pg_restore` passes a table's blocks to the server as
 * they come, whatever their boundaries (in a compressed archive they cut rows anywhere).
 *
 * Each piece is copied once (the repository's decoded chunks may be shared, so they are
 * never changed) and compacted in place: a row's length header is dropped, its bytes moved
 * down with `copyWithin` (a few nanoseconds a row), and one header per merged block written
 * where dropped headers left room, or as a small buffer of its own at a piece's start.
 * Anything this program cannot read (another archive version, a compressed archive) passes
 * through unchanged.
 */

import { Transform, type Readable } from "node:stream";
import {
  ArchiveUnusable,
  type ArchiveHeader,
  Position,
  BLK_BLOBS,
  BLK_DATA,
  HeaderReader,
  readIntAt,
  SplitInt,
  writeIntAt,
} from "./custom-archive.js";

export class DumpReblocker {
  readonly #headerReader = new HeaderReader();
  #headerDone = false;
  #header: ArchiveHeader | undefined;
  #state = Position.BlockType;
  #intSize = 4;
  /** The integer being read, which may span pieces. */
  #int = new SplitInt(4);
  #sectionType = 0;
  /** Payload bytes of the current block still to come. */
  #remaining = 0;

  // Per piece (set by #compact):
  #buf: Buffer = Buffer.alloc(0);
  /** Read and write positions in #buf; the write position never passes the read position. */
  #pos = 0;
  #out = 0;
  /** Output so far: slices of #buf and small buffers; #regionStart: where the current slice begins. */
  #segments: Buffer[] = [];
  #regionStart = 0;
  /** The open merged block's header: a position in #buf, or a buffer of its own; its payload's start. */
  #mergedAt = -1;
  #mergedHeader: Buffer | undefined;
  #mergedStart = 0;

  /**
   * The bytes to pass on for `piece` (possibly none yet, while the header is incomplete).
   * `owned`: the piece is the caller's to change, and is compacted in place; otherwise it is
   * copied first.
   */
  push(piece: Uint8Array, owned = false): Buffer[] {
    const buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    if (this.#state === Position.PassThrough) return [buf];
    if (!this.#headerDone) return this.#readHeader(piece, false);
    return this.#compact(owned ? buf : Buffer.from(buf), 0);
  }

  /**
   * The archive's header once it has been read from an archive whose blocks are merged
   * (the output then starts with its `length` bytes unchanged); undefined before, and for
   * a stream passed through unchanged.
   */
  get header(): ArchiveHeader | undefined {
    return this.#state === Position.PassThrough ? undefined : this.#header;
  }

  /** Whether the stream is passed on unchanged (known once the header is, or found unreadable). */
  get passesThrough(): boolean {
    return this.#state === Position.PassThrough;
  }

  /** The bytes still held back once the stream has ended. */
  end(): Buffer[] {
    if (this.#state === Position.PassThrough || this.#headerDone) return [];
    return this.#readHeader(new Uint8Array(0), true);
  }

  #readHeader(piece: Uint8Array, final: boolean): Buffer[] {
    let read;
    try {
      read = this.#headerReader.push(piece, final);
    } catch (err) {
      if (!(err instanceof ArchiveUnusable)) throw err;
      this.#state = Position.PassThrough;
      return [this.#headerReader.take()];
    }
    if (!read) return [];
    this.#headerDone = true;
    if (read.header.compressed) {
      this.#state = Position.PassThrough;
      return [read.bytes];
    }
    this.#header = read.header;
    this.#intSize = read.header.intSize;
    this.#int = new SplitInt(this.#intSize);
    // The joined bytes are a fresh buffer: compacted in place, header kept as it is.
    return this.#compact(read.bytes, read.header.length);
  }

  #compact(buf: Buffer, start: number): Buffer[] {
    this.#buf = buf;
    this.#pos = start;
    this.#out = start;
    this.#segments = [];
    this.#regionStart = 0;
    const end = buf.length;
    const h = 1 + this.#intSize;
    while (this.#pos < end) {
      switch (this.#state) {
        case Position.DataLength: {
          if (!this.#int.partial && this.#pos + h <= end) {
            // The hot path: a whole row in this piece.
            const length = readIntAt(buf, this.#pos, this.#intSize);
            this.#pos += h;
            if (length > 0 && this.#pos + length <= end) {
              this.#openMerged();
              this.#copy(this.#pos, this.#pos + length);
              this.#pos += length;
              if (this.#intSize === 4) this.#moreRows(buf, end);
            } else this.#dataLength(length);
            break;
          }
          this.#pos = this.#int.take(buf, this.#pos);
          if (this.#int.complete) this.#dataLength(this.#int.value);
          break;
        }
        case Position.DataPayload:
        case Position.BlobPayload: {
          const take = Math.min(this.#remaining, end - this.#pos);
          // Opened only once a payload byte is here, so that no merged block is ever empty
          // (an empty block would read as the end of the table's data).
          if (this.#state === Position.DataPayload) this.#openMerged();
          this.#copy(this.#pos, this.#pos + take);
          this.#pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0)
            this.#state = this.#state === Position.DataPayload ? Position.DataLength : Position.BlobLength;
          break;
        }
        case Position.BlockType: {
          this.#sectionType = buf[this.#pos]!;
          this.#copy(this.#pos, this.#pos + 1);
          this.#pos++;
          if (this.#sectionType !== BLK_DATA && this.#sectionType !== BLK_BLOBS) this.#passThrough();
          else this.#state = Position.SectionId;
          break;
        }
        case Position.SectionId:
        case Position.BlobOid:
        case Position.BlobLength: {
          // Copied on as they are read.
          const from = this.#pos;
          this.#pos = this.#int.take(buf, this.#pos);
          this.#copy(from, this.#pos);
          if (!this.#int.complete) break;
          const value = this.#int.value;
          if (this.#state === Position.SectionId) {
            this.#state = this.#sectionType === BLK_DATA ? Position.DataLength : Position.BlobOid;
          } else if (this.#state === Position.BlobOid) {
            this.#state = value === 0 ? Position.BlockType : Position.BlobLength;
          } else if (value > 0) {
            this.#remaining = value;
            this.#state = Position.BlobPayload;
          } else this.#state = value === 0 ? Position.BlobOid : Position.PassThrough;
          break;
        }
        case Position.PassThrough: {
          this.#copy(this.#pos, end);
          this.#pos = end;
          break;
        }
      }
    }
    this.#closeMerged();
    this.#segments.push(buf.subarray(this.#regionStart, this.#out));
    return this.#segments.filter((s) => s.length > 0);
  }

  /**
   * The rows that follow while a merged block is open, each whole in this piece: the
   * common case, in a loop on local variables (about 3 ns a row instead of 20 through the
   * state machine). Stops at anything else, which the state machine then handles.
   */
  #moreRows(buf: Buffer, end: number): void {
    let pos = this.#pos;
    let out = this.#out;
    while (pos + 5 <= end && buf[pos] === 0) {
      const length = buf[pos + 1]! | (buf[pos + 2]! << 8) | (buf[pos + 3]! << 16) | (buf[pos + 4]! << 24);
      const from = pos + 5;
      if (length <= 0 || from + length > end) break;
      if (out !== from) buf.copyWithin(out, from, from + length);
      out += length;
      pos = from + length;
    }
    this.#pos = pos;
    this.#out = out;
  }

  /** A data block's length has been read (its header dropped). */
  #dataLength(length: number): void {
    if (length > 0) {
      this.#remaining = length;
      this.#state = Position.DataPayload;
      return;
    }
    // The end of the section (0), or something this program does not know (< 0, passed on as it is).
    this.#closeMerged();
    this.#writeInt(length);
    if (length === 0) this.#state = Position.BlockType;
    else this.#passThrough();
  }

  #passThrough(): void {
    this.#closeMerged();
    this.#state = Position.PassThrough;
  }

  /** Moves `buf[from, to)` to the write position. */
  #copy(from: number, to: number): void {
    if (this.#out !== from) this.#buf.copyWithin(this.#out, from, to);
    this.#out += to - from;
  }

  /** Writes an integer at the write position, in place when dropped headers left room. */
  #writeInt(value: number): void {
    const h = 1 + this.#intSize;
    if (this.#pos - this.#out >= h) {
      this.#out = writeIntAt(this.#buf, this.#out, this.#intSize, value);
      return;
    }
    const own = Buffer.allocUnsafe(h);
    writeIntAt(own, 0, this.#intSize, value);
    this.#insert(own);
  }

  #insert(bytes: Buffer): void {
    this.#segments.push(this.#buf.subarray(this.#regionStart, this.#out), bytes);
    this.#regionStart = this.#out;
  }

  #openMerged(): void {
    if (this.#mergedAt !== -1 || this.#mergedHeader) return;
    const h = 1 + this.#intSize;
    if (this.#pos - this.#out >= h) {
      this.#mergedAt = this.#out;
      this.#out += h;
    } else {
      this.#mergedHeader = Buffer.allocUnsafe(h);
      this.#insert(this.#mergedHeader);
    }
    this.#mergedStart = this.#out;
  }

  #closeMerged(): void {
    const length = this.#out - this.#mergedStart;
    if (this.#mergedHeader) writeIntAt(this.#mergedHeader, 0, this.#intSize, length);
    else if (this.#mergedAt !== -1) {
      if (length === 0) this.#out = this.#mergedAt;
      else writeIntAt(this.#buf, this.#mergedAt, this.#intSize, length);
    }
    this.#mergedAt = -1;
    this.#mergedHeader = undefined;
  }
}

/**
 * `input` (a custom-format dump whose buffers are ours to change, see ChunkStore.getOwned)
 * with its blocks merged; an error of `input` ends it too.
 */
export function reblocked(input: Readable): Readable {
  const reblocker = new DumpReblocker();
  const output = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (const piece of reblocker.push(chunk, true)) this.push(piece);
      done();
    },
    flush(done) {
      for (const piece of reblocker.end()) this.push(piece);
      done();
    },
  });
  input.on("error", (err) => output.destroy(err));
  return input.pipe(output);
}
