import { OperationError } from "../../errors.js";

export type TarMemberType = "file" | "directory" | "symlink";

export interface TarMemberHeader {
  /** Path inside the archive, relative, `/`-separated, without a trailing slash. */
  path: string;
  type: TarMemberType;
  /** Bytes of content (0 for directories and symlinks). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** A symlink's target. */
  linkTarget?: string;
}

const TYPE_FLAG: Record<TarMemberType, string> = { file: "0", directory: "5", symlink: "2" };
/** Largest value of an 11-digit octal field (sizes up to 8 GiB; PostgreSQL's files stop at 1 GiB). */
const OCTAL_11_MAX = 0o77777777777;

/**
 * A POSIX ustar header block for one member, as `tar -x` and PostgreSQL's own tar writer
 * expect. Paths longer than 100 bytes are split into ustar's prefix and name.
 */
export function tarHeader(member: TarMemberHeader): Buffer {
  const h = Buffer.alloc(512);
  const fullName = member.type === "directory" ? `${member.path}/` : member.path;
  const [prefix, name] = splitPath(fullName);
  h.write(name, 0, 100, "utf8");
  octal(h, 100, 8, member.mode & 0o7777);
  octal(h, 108, 8, member.uid);
  octal(h, 116, 8, member.gid);
  if (member.size > OCTAL_11_MAX) {
    throw new OperationError("E_PG_BASEBACKUP_FAILED", `${member.path} is too large for a tar member`);
  }
  octal(h, 124, 12, member.size);
  octal(h, 136, 12, Math.max(0, Math.floor(member.mtime)));
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h.write(TYPE_FLAG[member.type], 156, 1, "latin1");
  if (member.linkTarget !== undefined) {
    if (Buffer.byteLength(member.linkTarget) > 100) {
      throw new OperationError(
        "E_PG_BASEBACKUP_FAILED",
        `the symlink ${member.path} points to a path longer than a tar header holds (${member.linkTarget})`,
      );
    }
    h.write(member.linkTarget, 157, 100, "utf8");
  }
  h.write("ustar\u000000", 257, 8, "latin1");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "latin1");
  return h;
}

/** The two zero blocks that end a tar archive. */
export const TAR_END = Buffer.alloc(1024);

/** Zero bytes after `size` bytes of content, up to the next 512-byte boundary. */
export function tarPadding(size: number): number {
  return (512 - (size % 512)) % 512;
}

function octal(h: Buffer, offset: number, width: number, value: number): void {
  h.write(`${value.toString(8).padStart(width - 1, "0")}\u0000`, offset, width, "latin1");
}

/** ustar's [prefix, name]: name at most 100 bytes, prefix at most 155, split at a slash. */
function splitPath(full: string): [string, string] {
  if (Buffer.byteLength(full) <= 100) return ["", full];
  for (let i = full.indexOf("/"); i !== -1; i = full.indexOf("/", i + 1)) {
    const prefix = full.slice(0, i);
    const name = full.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== "")
      return [prefix, name];
  }
  throw new OperationError(
    "E_PG_BASEBACKUP_FAILED",
    `the path ${full} in the data directory is too long for a tar header; rename it, or set method: pg_basebackup`,
  );
}
