/**
 * Counts the rows of each table in a `pg_dump --format=custom --compress=0` stream as it
 * passes on its way into the repository, so that a backup records exact row counts without
 * reading every table a second time with `count(*)` (on a database larger than memory that
 * second pass reads it all from disk again, during the nightly window).
 *
 * Why counting blocks counts rows: `pg_dump` up to version 18 writes each row of `COPY … TO
 * stdout` with its own `WriteData` call, which an uncompressed custom archive stores as one
 * length-prefixed block, and ends each table's data with a block holding the end-of-copy
 * marker `\.`. A row in COPY text format ends in its only newline (newlines inside values
 * are escaped), so a table's rows are its blocks less that marker. `pg_dump` 19 buffers
 * uncompressed output into larger blocks, so for it (and any archive version we do not
 * know) the counter gives up and the caller counts with SQL. Every 1024th row block is
 * also checked to hold exactly one newline, so a dump that packs several rows into a block
 * is noticed rather than miscounted.
 *
 * The archive layout is in custom-archive.ts.
 */

import {
  ArchiveUnusable,
  BLK_BLOBS,
  BLK_DATA,
  HeaderReader,
  readIntAt,
  SplitInt,
  type ArchiveHeader,
} from "./custom-archive.js";

const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
/** The last pg_dump major version known to write one block per row. */
const LAST_ROW_PER_BLOCK_MAJOR = 18;
/** Every how many rows a block is checked to hold exactly one newline. */
const CHECK_EVERY = 1024;

export interface DumpRowCounts {
  /** `schema.table` → rows, for each table whose data the stream held and could be counted. */
  tables: Map<string, number>;
  /** Why the stream could not be counted at all, when it could not. */
  unusable?: string;
  /** Tables whose data did not look like one row per block (counted another way). */
  doubtful: string[];
}

const enum State {
  BlockType,
  SectionId,
  BlockLength,
  Payload,
  BlobOid,
}

export class DumpRowCounter {
  #unusable: string | undefined;
  #header: ArchiveHeader | undefined;
  readonly #headerReader = new HeaderReader();

  #state = State.BlockType;
  #sectionType = 0;
  /** The table whose data is being read (undefined for large objects and other entries). */
  #table: string | undefined;
  #inBlob = false;
  #rows = 0;
  /** A row block is to be checked for a single newline (the first of each table, then every CHECK_EVERY). */
  #checkDue = true;
  #terminated = false;
  #doubtfulTable = false;
  /** The integer being read across a buffer boundary. */
  #int = new SplitInt(4);
  /** The current block's length, its bytes still to come, its first three bytes and its last. */
  #length = 0;
  #remaining = 0;
  #first = 0;
  #last = 0;
  /** Newlines seen so far in the current block (up to 2), while a check is due. */
  #newlines = 0;

  readonly #counts = new Map<string, number>();
  readonly #doubtful: string[] = [];

  /** Takes the next piece of the stream; never throws (a stream it cannot read is noted). */
  push(piece: Uint8Array): void {
    if (this.#unusable !== undefined) return;
    this.#noting(() => {
      if (this.#header) this.#scan(piece, 0);
      else this.#start(this.#headerReader.push(piece));
    });
  }

  /** Why the stream cannot be counted, as soon as that is known (undefined so far). */
  get unusable(): string | undefined {
    return this.#unusable;
  }

  /** The counts, once the whole stream has been pushed. */
  result(): DumpRowCounts {
    if (this.#unusable === undefined && !this.#header) {
      this.#noting(() => this.#start(this.#headerReader.push(new Uint8Array(0), true)));
    }
    if (this.#unusable !== undefined) return { tables: new Map(), unusable: this.#unusable, doubtful: [] };
    return { tables: new Map(this.#counts), doubtful: [...this.#doubtful] };
  }

  /** Runs `work`; whatever stops it (a bug here included) leaves the counting to count(*), never the backup failed. */
  #noting(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.#unusable =
        err instanceof ArchiveUnusable ? err.message : `internal error in the row counter: ${String(err)}`;
      this.#headerReader.take();
    }
  }

  /** Once the header is in: checks that this archive can be counted, then scans the data after it. */
  #start(read: { header: ArchiveHeader; bytes: Buffer } | undefined): void {
    if (!read) return;
    const { header, bytes } = read;
    if (header.compressed) throw new ArchiveUnusable("the archive is compressed");
    const major = Number.parseInt(header.dumpVersion, 10);
    if (!(major <= LAST_ROW_PER_BLOCK_MAJOR)) {
      throw new ArchiveUnusable(
        `pg_dump ${header.dumpVersion || "of unknown version"} may put several rows in one block`,
      );
    }
    this.#header = header;
    this.#int = new SplitInt(header.intSize);
    this.#scan(bytes, header.length);
  }

  #scan(buf: Uint8Array, pos: number): void {
    const end = buf.length;
    const intSize = this.#header!.intSize;
    while (pos < end) {
      switch (this.#state) {
        case State.Payload: {
          const done = this.#length - this.#remaining;
          const take = Math.min(this.#remaining, end - pos);
          for (let i = done; i < 3 && i < done + take; i++)
            this.#first = (this.#first << 8) | buf[pos + i - done]!;
          if (this.#checkDue) this.#newlines += countNewlines(buf, pos, pos + take, 2 - this.#newlines);
          this.#remaining -= take;
          pos += take;
          if (this.#remaining === 0) {
            this.#last = buf[pos - 1]!;
            this.#endBlock(this.#newlines);
            this.#state = State.BlockLength;
          }
          break;
        }
        case State.BlockLength: {
          // The hot path: one row per block, most of them whole in this buffer.
          if (!this.#int.partial && pos + 1 + intSize <= end) {
            const length = readIntAt(buf, pos, intSize);
            pos += 1 + intSize;
            if (length > 0 && pos + length <= end) {
              this.#length = length;
              this.#first = length >= 3 ? (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]! : 0;
              this.#last = buf[pos + length - 1]!;
              pos += length;
              this.#endBlock(this.#checkDue ? countNewlines(buf, pos - length, pos, 2) : 0);
              break;
            }
            this.#startBlock(length);
            break;
          }
          pos = this.#int.take(buf, pos);
          if (this.#int.complete) this.#startBlock(this.#int.value);
          break;
        }
        case State.BlockType: {
          this.#sectionType = buf[pos++]!;
          if (this.#sectionType !== BLK_DATA && this.#sectionType !== BLK_BLOBS) {
            throw new ArchiveUnusable(`unexpected data block type ${this.#sectionType}`);
          }
          this.#state = State.SectionId;
          break;
        }
        case State.SectionId:
        case State.BlobOid: {
          pos = this.#int.take(buf, pos);
          if (!this.#int.complete) break;
          const value = this.#int.value;
          if (this.#state === State.SectionId) this.#startSection(value);
          else if (value === 0) this.#state = State.BlockType;
          else {
            this.#inBlob = true;
            this.#state = State.BlockLength;
          }
          break;
        }
      }
    }
  }

  #startSection(dumpId: number): void {
    this.#inBlob = false;
    if (this.#sectionType === BLK_BLOBS) {
      this.#table = undefined;
      this.#state = State.BlobOid;
      return;
    }
    this.#table = this.#header!.tableData.get(dumpId);
    this.#rows = 0;
    this.#checkDue = true;
    this.#terminated = false;
    this.#doubtfulTable = false;
    this.#state = State.BlockLength;
  }

  #startBlock(length: number): void {
    if (length < 0) throw new ArchiveUnusable(`negative block length ${length}`);
    if (length === 0) {
      this.#endSection();
      return;
    }
    this.#length = length;
    this.#remaining = length;
    this.#first = 0;
    this.#newlines = 0;
    this.#state = State.Payload;
  }

  /** A block is complete; `newlines`: how many it holds (up to 2), counted when a check is due. */
  #endBlock(newlines: number): void {
    if (this.#table === undefined || this.#inBlob) return;
    const marker = this.#length >= 3 && this.#first === ((BACKSLASH << 16) | (DOT << 8) | NEWLINE);
    if (marker) {
      this.#terminated = true;
      return;
    }
    if (this.#terminated || this.#last !== NEWLINE) {
      this.#doubtfulTable = true;
      return;
    }
    if (this.#checkDue) {
      this.#checkDue = false;
      if (newlines !== 1) this.#doubtfulTable = true;
    }
    if (++this.#rows % CHECK_EVERY === 0) this.#checkDue = true;
  }

  #endSection(): void {
    if (this.#inBlob) {
      this.#inBlob = false;
      this.#state = State.BlobOid;
      return;
    }
    if (this.#table !== undefined) {
      if (this.#doubtfulTable || !this.#terminated) this.#doubtful.push(this.#table);
      else this.#counts.set(this.#table, this.#rows);
    }
    this.#table = undefined;
    this.#state = State.BlockType;
  }
}

/** Newlines in `buf[from, to)`, counting no further than `limit`. */
function countNewlines(buf: Uint8Array, from: number, to: number, limit: number): number {
  let n = 0;
  for (
    let at = buf.indexOf(NEWLINE, from);
    n < limit && at >= 0 && at < to;
    at = buf.indexOf(NEWLINE, at + 1)
  )
    n++;
  return n;
}
