/**
 * Shares a custom-format dump's table data among several `pg_restore --section=data`
 * sessions, so that one table's rows load through several backends at once.
 *
 * A streamed restore has one source, read in order, so sending whole tables to different
 * sessions would leave all but one waiting: parallelism has to come from within the table
 * being read. Every session therefore gets every table's data section (`[BLK_DATA][dump id]`
 * … `[0]`), holding the rows routed to it, as whole COPY lines: `pg_dump` writes COPY's
 * text format, where a newline inside a value is escaped, so every raw newline ends a row.
 * Rows go to whichever session has the least input waiting (see `choose`), which keeps a
 * slower backend from holding up the others. Row order within a table is not kept, as with
 * any parallel load.
 *
 * COPY ends at the line `\.` (which no value can produce) and ignores what follows it up to
 * the end of the data, so the end marker `pg_dump` writes (`\.` and two empty lines) must
 * reach one session whole: the rows are never re-routed once that line has passed.
 * Large objects go to one session; the others get an empty large-object section, so every
 * session's stream has every data entry of the table of contents, in order.
 *
 * Input: the dump after its header and table of contents, as DumpReblocker leaves it (a
 * few large blocks per table; rows merged). Anything else than table data and large
 * objects is an archive this program cannot split: ArchiveUnusable.
 */

import { ArchiveUnusable, BLK_BLOBS, BLK_DATA, Position, SplitInt, writeIntAt } from "./custom-archive.js";

const NEWLINE = 10;
/** Bytes routed to one session before another may be chosen for the rows that follow. */
const SHARE_BYTES = 256 * 1024;
/** The end of a table's COPY data: a newline (or the data's start), `\.`, a newline. */
const MARKER_LINE = Buffer.from("\n\\.\n");
/** How many bytes of a table's data are remembered: the marker line and the two empty lines after it. */
const TAIL_BYTES = MARKER_LINE.length + 2;

export interface SplitOptions {
  intSize: number;
  ways: number;
  /** The session the next rows should go to (called at row boundaries, now and then). */
  choose: () => number;
  /** Passes bytes on to a session's stream. */
  emit: (way: number, bytes: Buffer) => void;
  /** Bytes routed to one session before another may be chosen (tests set a few). */
  shareBytes?: number;
}

export class DumpSplitter {
  readonly #o: SplitOptions;
  #state = Position.BlockType;
  #int: SplitInt;
  #sectionType = 0;
  /** Payload bytes of the current block still to come. */
  #remaining = 0;
  /** The session receiving the current table's rows, or the large objects. */
  #way = 0;
  #sinceChosen = 0;
  /** The last bytes of the current table's data (newlines before its start). */
  readonly #tail = Buffer.alloc(TAIL_BYTES, NEWLINE);
  /** The end marker has passed: the rest of the table stays with #way. */
  #ended = false;

  /** The session the bytes being routed go to. */
  get way(): number {
    return this.#way;
  }

  constructor(options: SplitOptions) {
    this.#o = options;
    this.#int = new SplitInt(options.intSize);
  }

  /** Takes the next piece of the dump (never changed, but passed on by reference). */
  push(piece: Buffer): void {
    let pos = 0;
    const end = piece.length;
    while (pos < end) {
      switch (this.#state) {
        case Position.BlockType: {
          this.#sectionType = piece[pos++]!;
          if (this.#sectionType !== BLK_DATA && this.#sectionType !== BLK_BLOBS) {
            throw new ArchiveUnusable(`unexpected block type ${this.#sectionType} in the dump`);
          }
          this.#state = Position.SectionId;
          break;
        }
        case Position.SectionId: {
          pos = this.#int.take(piece, pos);
          if (this.#int.complete) this.#startSection(this.#int.value);
          break;
        }
        case Position.DataLength: {
          pos = this.#int.take(piece, pos);
          if (!this.#int.complete) break;
          const length = this.#int.value;
          if (length > 0) {
            this.#remaining = length;
            this.#state = Position.DataPayload;
          } else if (length === 0) {
            for (let way = 0; way < this.#o.ways; way++) this.#o.emit(way, this.#intBytes(0));
            this.#state = Position.BlockType;
          } else throw new ArchiveUnusable(`negative block length ${length} in the dump`);
          break;
        }
        case Position.DataPayload: {
          const take = Math.min(this.#remaining, end - pos);
          this.#route(piece.subarray(pos, pos + take));
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = Position.DataLength;
          break;
        }
        case Position.BlobOid:
        case Position.BlobLength: {
          // Passed on as they are read: large objects go to one session unchanged.
          const from = pos;
          pos = this.#int.take(piece, pos);
          this.#o.emit(this.#way, piece.subarray(from, pos));
          if (!this.#int.complete) break;
          const value = this.#int.value;
          if (this.#state === Position.BlobOid) {
            this.#state = value === 0 ? Position.BlockType : Position.BlobLength;
          } else if (value > 0) {
            this.#remaining = value;
            this.#state = Position.BlobPayload;
          } else if (value === 0) this.#state = Position.BlobOid;
          else throw new ArchiveUnusable(`negative block length ${value} in the dump's large objects`);
          break;
        }
        case Position.BlobPayload: {
          const take = Math.min(this.#remaining, end - pos);
          this.#o.emit(this.#way, piece.subarray(pos, pos + take));
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = Position.BlobLength;
          break;
        }
      }
    }
  }

  /** Checks that the dump ended between sections (a truncated one would load in part). */
  end(): void {
    if (this.#state !== Position.BlockType) throw new ArchiveUnusable("the dump ends inside a data section");
  }

  #startSection(id: number): void {
    const header = Buffer.allocUnsafe(1 + 1 + this.#o.intSize);
    header[0] = this.#sectionType;
    writeIntAt(header, 1, this.#o.intSize, id);
    for (let way = 0; way < this.#o.ways; way++) this.#o.emit(way, header);
    this.#way = this.#o.choose();
    if (this.#sectionType === BLK_DATA) {
      this.#sinceChosen = 0;
      this.#tail.fill(NEWLINE);
      this.#ended = false;
      this.#state = Position.DataLength;
      return;
    }
    // The other sessions' large-object sections end at once (a zero oid).
    for (let way = 0; way < this.#o.ways; way++) {
      if (way !== this.#way) this.#o.emit(way, this.#intBytes(0));
    }
    this.#state = Position.BlobOid;
  }

  /** Routes table data: to the current session, or from the next row boundary on to another. */
  #route(bytes: Buffer): void {
    if (this.#sinceChosen >= (this.#o.shareBytes ?? SHARE_BYTES) && !this.#ended) {
      const next = this.#o.choose();
      if (next !== this.#way) {
        // A row boundary: here, when the data so far ends a line, else after the next newline.
        const cut = this.#tail[TAIL_BYTES - 1] === NEWLINE ? 0 : bytes.indexOf(NEWLINE) + 1;
        if (cut > 0 || this.#tail[TAIL_BYTES - 1] === NEWLINE) {
          this.#send(bytes.subarray(0, cut));
          bytes = bytes.subarray(cut);
          if (this.#afterMarker()) this.#ended = true;
          else {
            this.#way = next;
            this.#sinceChosen = 0;
          }
        }
      }
    }
    this.#send(bytes);
  }

  /** True when the data so far ends with the marker line, perhaps followed by empty lines. */
  #afterMarker(): boolean {
    const t = this.#tail;
    for (let empty = 0; empty <= TAIL_BYTES - MARKER_LINE.length; empty++) {
      const at = TAIL_BYTES - MARKER_LINE.length - empty;
      if (t.compare(MARKER_LINE, 0, MARKER_LINE.length, at, at + MARKER_LINE.length) !== 0) continue;
      if (t.subarray(at + MARKER_LINE.length).every((b) => b === NEWLINE)) return true;
    }
    return false;
  }

  /** Sends rows to the current session as a block of its own. */
  #send(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#o.emit(this.#way, this.#intBytes(bytes.length));
    this.#o.emit(this.#way, bytes);
    this.#sinceChosen += bytes.length;
    if (bytes.length >= TAIL_BYTES) bytes.copy(this.#tail, 0, bytes.length - TAIL_BYTES);
    else {
      this.#tail.copyWithin(0, bytes.length);
      bytes.copy(this.#tail, TAIL_BYTES - bytes.length);
    }
  }

  #intBytes(value: number): Buffer {
    const bytes = Buffer.allocUnsafe(1 + this.#o.intSize);
    writeIntAt(bytes, 0, this.#o.intSize, value);
    return bytes;
  }
}
