/**
 * The postgres benchmark's `documents` table: ~1 KB rows of procurement prose and a jsonb
 * record each, written as a COPY text file. The words come from a small vocabulary with a
 * skewed choice, so the text compresses like application data (zstd -3 about 4:1), not
 * like one sentence repeated — which gzip -9 handles far faster than real text and would
 * make the runbook's `pg_dump -Z9` look cheaper than it is (see docs/benchmarks.md).
 */
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { Prng } from "./prng.js";

const SEED = 0x646f6373; // "docs"

const WORDS = (
  "requisition purchase order vendor supplier approved rejected pending delivery invoice payment " +
  "amount quantity unit item warehouse manager department budget canvass quotation price total " +
  "discount tax receipt account project schedule request review comment note the a of to and in " +
  "for on with by from at as is was be has have not this that which will shall may must should " +
  "please kindly office supplies equipment laptop printer paper chair desk cable monitor service " +
  "maintenance repair contract agreement terms january february march april may june july august " +
  "september october november december urgent normal low high priority philippines manila cebu " +
  "davao branch head finance procurement engineering operations human resources admin logistics"
).split(" ");
const STATUSES = ["open", "approved", "paid", "rejected"] as const;

/** One COPY text line (no tab, newline or backslash inside values). */
function documentLine(rng: Prng, id: number): string {
  const words: string[] = [];
  const count = rng.int(80, 160);
  // The smaller of two uniform picks: common words come up more often, as in real text.
  for (let k = 0; k < count; k++)
    words.push(WORDS[Math.min(rng.int(0, WORDS.length - 1), rng.int(0, WORDS.length - 1))]!);
  const meta = JSON.stringify({
    vendor: rng.int(1, 977),
    status: rng.pick(STATUSES),
    lines: [rng.int(1, 40), rng.int(1, 40)],
    total: rng.int(100, 9_999_999),
    ref: rng.nextU32().toString(16),
  });
  return `${id}\tRequisition ${id} for vendor ${rng.int(1, 977)}\t${words.join(" ")}.\t${meta}\n`;
}

/** Creates the table. */
export const CREATE_DOCUMENTS =
  "CREATE TABLE documents (id bigint PRIMARY KEY, title text, body text, meta jsonb)";

/** The psql meta-command that loads a file `writeDocuments` wrote (client side: no server file access needed). */
export function copyDocumentsFrom(file: string): string {
  return `\\copy documents FROM '${file.replace(/'/g, "''")}'`;
}

/** Writes `rows` documents to `file` in COPY text format; same rows for the same count. */
export async function writeDocuments(file: string, rows: number): Promise<void> {
  const rng = new Prng(SEED);
  const out = createWriteStream(file, { mode: 0o644 });
  for (let id = 1; id <= rows; id++) {
    if (!out.write(documentLine(rng, id))) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
}
