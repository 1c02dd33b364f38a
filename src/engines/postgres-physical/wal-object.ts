import { createHash } from "node:crypto";
import { Compressor, Decompressor } from "zstd-napi";

/**
 * One archived WAL file as stored at `wal/<target>/<name>`:
 * 8-byte magic `PRSWAL01`, 32-byte SHA-256 of the plain file, 1 encoding byte
 * (0 raw, 1 zstd), then the payload. The 41-byte header lets a re-push compare
 * hashes without reading the payload.
 */
export const WAL_MAGIC = Buffer.from("PRSWAL01", "ascii");
export const WAL_HEADER_BYTES = 41;

const enum Encoding {
  Raw = 0,
  Zstd = 1,
}

/** zstd level for WAL: pushes must be quick, and WAL compresses well even at level 1. */
const WAL_ZSTD_LEVEL = 1;

export function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

/** Encodes a WAL file (zstd when it shrinks it). */
export function encodeWalObject(plain: Buffer): Buffer {
  const compressor = new Compressor();
  compressor.setParameters({ compressionLevel: WAL_ZSTD_LEVEL });
  const packed = compressor.compress(plain);
  const zstd = packed.length < plain.length;
  return Buffer.concat([
    WAL_MAGIC,
    sha256(plain),
    Buffer.of(zstd ? Encoding.Zstd : Encoding.Raw),
    zstd ? packed : plain,
  ]);
}

/** The hash recorded in an object's header, or undefined when the header is not ours. */
export function headerHash(header: Buffer): Buffer | undefined {
  if (header.length < WAL_HEADER_BYTES || !header.subarray(0, 8).equals(WAL_MAGIC)) return undefined;
  return header.subarray(8, 40);
}

/** Decodes an object and checks the plain bytes against the recorded hash; throws a one-line reason. */
export function decodeWalObject(body: Buffer): Buffer {
  const expected = headerHash(body);
  if (!expected) throw new Error("not a prs-backup WAL object (bad magic or truncated header)");
  const payload = body.subarray(WAL_HEADER_BYTES);
  let plain: Buffer;
  if (body[40] === Encoding.Raw) plain = payload;
  else if (body[40] === Encoding.Zstd) {
    try {
      plain = new Decompressor().decompress(payload);
    } catch (err) {
      throw new Error(`cannot decompress: ${(err as Error).message}`);
    }
  } else throw new Error(`unknown encoding byte ${body[40]}`);
  if (!sha256(plain).equals(expected)) throw new Error("content does not match its SHA-256");
  return plain;
}

/**
 * The system identifier in a segment's long page header (little-endian uint64 at byte
 * 24 of the first page), or undefined when the file is too short or not a WAL page.
 */
export function segmentSystemId(segment: Buffer): string | undefined {
  if (segment.length < 32) return undefined;
  const magic = segment.readUInt16LE(0);
  // XLOG_PAGE_MAGIC is 0xD1xx for PostgreSQL 9.x–17; the long-header flag is bit 2 of xlp_info.
  if ((magic & 0xff00) !== 0xd100 || (segment.readUInt16LE(2) & 0x0002) === 0) return undefined;
  return segment.readBigUInt64LE(24).toString();
}
