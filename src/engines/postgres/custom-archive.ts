/**
 * The layout of a pg_dump custom-format archive as it streams from `pg_dump` (PostgreSQL
 * 12–18 write archive versions 1.14–1.16), after `pg_backup_archiver.c` (ReadHead, ReadToc)
 * and `pg_backup_custom.c`: integers are a sign byte then `intSize` little-endian bytes;
 * strings an integer length (-1 for NULL) then the bytes; header and table of contents come
 * first, then each entry's data as `[block type][dump id]` followed by `[length][bytes]`
 * blocks up to a zero length (large objects: `[oid]` then such blocks, per object, up to a
 * zero oid). Shared by the row counter (dump-rows.ts) and the re-blocker (dump-reblock.ts).
 */

import { tableKey } from "./inventory.js";

const MAGIC = "PGDMP";
const FORMAT_CUSTOM = 1;
export const BLK_DATA = 1;
export const BLK_BLOBS = 3;
/** A header and table of contents larger than this is not waited for (a schema of millions of objects). */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

const version = (major: number, minor: number, rev = 0): number => (major * 256 + minor) * 256 + rev;
const V1_14 = version(1, 14);
const V1_15 = version(1, 15);
const V1_16 = version(1, 16);
const V_MAX = version(1, 16, 255);

/** Where a reader of the data after the table of contents is (dump-reblock.ts, dump-split.ts). */
export enum Position {
  BlockType,
  SectionId,
  DataLength,
  DataPayload,
  BlobOid,
  BlobLength,
  BlobPayload,
  /** Passing on unchanged what this program does not know. */
  PassThrough,
}

/** The stream is not an archive this program can read (the message says why). */
export class ArchiveUnusable extends Error {}

/** Thrown while parsing the header when the bytes so far end before it does. */
class NeedMore extends Error {}

export interface ArchiveHeader {
  intSize: number;
  /** Whether the table data is compressed (by pg_dump). */
  compressed: boolean;
  /** The version string of the pg_dump that wrote it, e.g. `15.10 (Debian 15.10-1)`. */
  dumpVersion: string;
  /** Dump id → `schema.table`, for the TABLE DATA entries. */
  tableData: Map<number, string>;
  /** Bytes of header and table of contents. */
  length: number;
}

/**
 * Collects the start of a stream until its header and table of contents can be parsed.
 * Parsing again only once the bytes have doubled keeps a large table of contents linear.
 */
export class HeaderReader {
  #pending: Buffer[] = [];
  #bytes = 0;
  #nextAttempt = 4096;

  /**
   * Takes the next piece; once the header is complete returns it with all bytes so far
   * (`bytes`, of which the first `header.length` are the header). Throws ArchiveUnusable.
   */
  push(piece: Uint8Array, final = false): { header: ArchiveHeader; bytes: Buffer } | undefined {
    this.#pending.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    this.#bytes += piece.byteLength;
    if (this.#bytes < this.#nextAttempt && !final) return undefined;
    const bytes = Buffer.concat(this.#pending);
    this.#pending = [bytes];
    try {
      const header = parseArchiveHeader(bytes);
      this.#pending = [];
      return { header, bytes };
    } catch (err) {
      if (!(err instanceof NeedMore)) throw err;
      if (final) throw new ArchiveUnusable("the stream ended inside its header");
      if (this.#bytes > MAX_HEADER_BYTES)
        throw new ArchiveUnusable("the table of contents is too large to wait for");
      this.#nextAttempt = this.#bytes * 2;
      return undefined;
    }
  }

  /** The bytes taken so far without a complete header. */
  take(): Buffer {
    const bytes = Buffer.concat(this.#pending);
    this.#pending = [];
    return bytes;
  }
}

/**
 * An archive integer that may arrive split across pieces of the stream: `take` reads what
 * is there; once the last byte is in, `complete` is true and `value` holds it.
 */
export class SplitInt {
  #read = 0;
  #magnitude = 0;
  #negative = false;
  complete = false;
  value = 0;

  constructor(readonly intSize: number) {}

  /** Whether an integer is partly read (its next bytes are in a later piece). */
  get partial(): boolean {
    return this.#read > 0;
  }

  /** Reads (more of) an integer from `buf` at `pos`; returns the position after what it took. */
  take(buf: Uint8Array, pos: number): number {
    while (pos < buf.length && this.#read < this.intSize + 1) {
      const byte = buf[pos++]!;
      if (this.#read === 0) this.#negative = byte !== 0;
      else this.#magnitude += byte * 2 ** (8 * (this.#read - 1));
      this.#read++;
    }
    this.complete = this.#read === this.intSize + 1;
    if (this.complete) {
      this.value = this.#negative ? -this.#magnitude : this.#magnitude;
      this.#read = 0;
      this.#magnitude = 0;
    }
    return pos;
  }
}

export function readIntAt(buf: Uint8Array, pos: number, intSize: number): number {
  let value = 0;
  for (let i = intSize; i >= 1; i--) value = value * 256 + buf[pos + i]!;
  return buf[pos] === 0 ? value : -value;
}

/** Writes `value` as an archive integer at `pos`; returns the position after it. */
export function writeIntAt(buf: Uint8Array, pos: number, intSize: number, value: number): number {
  buf[pos] = value < 0 ? 1 : 0;
  let rest = Math.abs(value);
  for (let i = 1; i <= intSize; i++) {
    buf[pos + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return pos + 1 + intSize;
}

/** Parses header and table of contents; throws NeedMore when `buf` ends first. */
function parseArchiveHeader(buf: Buffer): ArchiveHeader {
  let pos = 0;
  const need = (n: number): void => {
    if (pos + n > buf.length) throw new NeedMore();
  };
  const byte = (): number => {
    need(1);
    return buf[pos++]!;
  };
  need(MAGIC.length);
  if (buf.toString("latin1", 0, MAGIC.length) !== MAGIC)
    throw new ArchiveUnusable("not a pg_dump custom-format archive");
  pos = MAGIC.length;
  const archiveVersion = version(byte(), byte(), byte());
  if (archiveVersion < V1_14 || archiveVersion > V_MAX) {
    throw new ArchiveUnusable(
      `archive version ${archiveVersion >> 16}.${(archiveVersion >> 8) & 0xff} is not one this program knows`,
    );
  }
  const intSize = byte();
  const offSize = byte();
  if (intSize < 1 || intSize > 6) throw new ArchiveUnusable(`integer size ${intSize} in the archive header`);
  const int = (): number => {
    need(1 + intSize);
    const value = readIntAt(buf, pos, intSize);
    pos += 1 + intSize;
    return value;
  };
  const str = (): string | null => {
    const length = int();
    if (length < 0) return null;
    need(length);
    pos += length;
    return buf.toString("utf8", pos - length, pos);
  };
  if (byte() !== FORMAT_CUSTOM) throw new ArchiveUnusable("not a custom-format archive");
  const compressed = archiveVersion >= V1_15 ? byte() !== 0 : int() !== 0;
  for (let i = 0; i < 7; i++) int(); // creation time
  str(); // database name
  str(); // server version
  const dumpVersion = str() ?? "";

  const tableData = new Map<number, string>();
  const entries = int();
  for (let i = 0; i < entries; i++) {
    const dumpId = int();
    int(); // had a data dumper
    str(); // table oid
    str(); // oid
    const tag = str();
    const desc = str();
    int(); // section
    str(); // definition
    str(); // drop statement
    str(); // copy statement
    const namespace = str();
    str(); // tablespace
    str(); // table access method
    if (archiveVersion >= V1_16) int(); // relkind
    str(); // owner
    str(); // "false" (tables once had OIDs)
    while (str() !== null); // dependencies
    const flag = byte(); // custom format: the data's offset
    if (flag < 1 || flag > 3)
      throw new ArchiveUnusable(`unexpected offset flag ${flag} in the table of contents`);
    need(offSize);
    pos += offSize;
    if (desc === "TABLE DATA" && tag !== null && namespace !== null)
      tableData.set(dumpId, tableKey(namespace, tag));
  }
  return { intSize, compressed, dumpVersion, tableData, length: pos };
}
