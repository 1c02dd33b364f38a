/**
 * Watches a tar stream go by and keeps the content of a few small members (here
 * `backup_label` and `backup_manifest`) without buffering the rest. Handles headers and
 * members split across arbitrary buffer boundaries; ustar and GNU base-256 sizes.
 */
export class TarScanner {
  readonly captured = new Map<string, Buffer>();
  readonly #wanted: ReadonlySet<string>;
  readonly #maxCapture: number;
  #header = Buffer.alloc(0);
  /** Bytes of member data (plus padding) still to skip or capture. */
  #remaining = 0;
  #padding = 0;
  #current: { name: string; parts: Buffer[]; size: number } | undefined;
  #ended = false;
  members = 0;

  constructor(wanted: readonly string[], maxCapture = 256 * 1024 * 1024) {
    this.#wanted = new Set(wanted);
    this.#maxCapture = maxCapture;
  }

  push(buf: Buffer): void {
    let off = 0;
    while (off < buf.length && !this.#ended) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, buf.length - off);
        if (this.#current) this.#current.parts.push(Buffer.from(buf.subarray(off, off + take)));
        this.#remaining -= take;
        off += take;
        if (this.#remaining === 0) this.#finishMember();
        continue;
      }
      if (this.#padding > 0) {
        const take = Math.min(this.#padding, buf.length - off);
        this.#padding -= take;
        off += take;
        continue;
      }
      const need = 512 - this.#header.length;
      const take = Math.min(need, buf.length - off);
      this.#header = Buffer.concat([this.#header, buf.subarray(off, off + take)]);
      off += take;
      if (this.#header.length === 512) {
        this.#startMember(this.#header);
        this.#header = Buffer.alloc(0);
      }
    }
  }

  #startMember(h: Buffer): void {
    if (h.every((b) => b === 0)) return; // end-of-archive blocks
    const full = tarPath(h);
    const size = tarSize(h.subarray(124, 136));
    this.members += 1;
    this.#remaining = size;
    this.#padding = (512 - (size % 512)) % 512;
    const type = String.fromCharCode(h[156] ?? 0);
    this.#current =
      (type === "0" || type === "\0") && this.#wanted.has(full) && size <= this.#maxCapture
        ? { name: full, parts: [], size }
        : undefined;
    if (size === 0) this.#finishMember();
  }

  #finishMember(): void {
    if (this.#current) this.captured.set(this.#current.name, Buffer.concat(this.#current.parts));
    this.#current = undefined;
  }
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end === -1 ? b.length : end).toString("utf8");
}

/** A tar header's member path (ustar prefix/name). */
export function tarPath(h: Buffer): string {
  const name = cString(h.subarray(0, 100));
  const prefix = h.subarray(257, 262).toString("latin1") === "ustar" ? cString(h.subarray(345, 500)) : "";
  return prefix ? `${prefix}/${name}` : name;
}

/** A tar header's size field: octal text, or GNU base-256 for large sizes. */
export function tarSize(field: Buffer): number {
  if ((field[0]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = cString(field).trim();
  return text === "" ? 0 : parseInt(text, 8);
}
