/**
 * The Redis benchmark section: the runbook's `BGSAVE` + copy + `gzip` against prs-backup's
 * `redis` target on ~1,000,000 keys of mixed types (BENCH_SCALE scales the count): wall time,
 * bytes stored, and bytes stored by a second backup after 1% of the keys changed.
 */
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { execa } from "execa";
import { ScratchRedis } from "../src/engines/redis/scratch-server.js";
import { diskUsage, measure, syncDisks, type Measurement } from "./measure.js";
import { Prng } from "./prng.js";
import { PrsCli } from "./prs-cli.js";
import { renderReport } from "./report.js";
import type { BenchContext, Section, SectionResult, StepResult } from "./section.js";

const TARGET = "redis";
const SEED = 5;
const KEYS_AT_SCALE_1 = 1_000_000;
const CHANGED_FRACTION = 0.01;

/** One Redis command in RESP, as `redis-cli --pipe` takes it. */
function resp(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === "string" ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

const KINDS = [
  "string",
  "string",
  "string",
  "string",
  "string",
  "hash",
  "hash",
  "list",
  "set",
  "zset",
] as const;

/** The commands that create key `i`: deterministic from the seed, about 140 RDB bytes per key. */
function keyCommands(i: number, rng: Prng, version = 0): Buffer[] {
  const kind = KINDS[i % KINDS.length]!;
  const hex = rng.bytes(8).toString("hex");
  const out: Buffer[] = [];
  const key = `${kind}:${i}`;
  switch (kind) {
    case "string":
      out.push(
        resp([
          "SET",
          key,
          JSON.stringify({
            id: i,
            v: version,
            user: `user-${i % 50_000}`,
            status: rng.pick(["new", "paid", "sent"]),
            token: hex,
            n: rng.int(0, 1e6),
          }),
        ]),
      );
      break;
    case "hash":
      out.push(
        resp([
          "HSET",
          key,
          "name",
          `item ${i}`,
          "count",
          String(rng.int(0, 1000) + version),
          "token",
          hex,
          "state",
          rng.pick(["a", "b", "c"]),
        ]),
      );
      break;
    case "list":
      out.push(resp(["RPUSH", key, `job-${i}`, hex, String(version), rng.bytes(12)]));
      break;
    case "set":
      out.push(resp(["SADD", key, `m${i}`, hex, `v${version}`, String(rng.int(0, 99))]));
      break;
    case "zset":
      out.push(resp(["ZADD", key, String(rng.int(0, 1e6) / 100), `a${i}`, String(version), hex, "1.5", "x"]));
      break;
  }
  if (i % 4 === 0) out.push(resp(["EXPIRE", key, String(30 * 86400 + (i % 86400))]));
  return out;
}

async function pipe(port: number, commands: Iterable<Buffer>): Promise<void> {
  await execa("redis-cli", ["-p", String(port), "--pipe"], { input: Readable.from(batches(commands)) });
}

function* batches(commands: Iterable<Buffer>): Generator<Buffer> {
  let batch: Buffer[] = [];
  for (const c of commands) {
    batch.push(c);
    if (batch.length >= 5000) {
      yield Buffer.concat(batch);
      batch = [];
    }
  }
  if (batch.length > 0) yield Buffer.concat(batch);
}

function* dataset(keys: number): Generator<Buffer> {
  const rng = new Prng(SEED);
  for (let i = 0; i < keys; i++) yield* keyCommands(i, rng);
}

/** Changes 1% of the keys, spread over the whole key space (deleted and recreated with new values). */
function* mutation(keys: number): Generator<Buffer> {
  const pick = new Prng(SEED + 1);
  const rng = new Prng(SEED + 2);
  const changed = Math.round(keys * CHANGED_FRACTION);
  for (let n = 0; n < changed; n++) {
    const i = pick.int(0, keys - 1);
    const kind = KINDS[i % KINDS.length]!;
    if (kind !== "string") yield resp(["DEL", `${kind}:${i}`]);
    yield* keyCommands(i, rng, 1);
  }
}

async function info(port: number, field: string): Promise<string> {
  const { stdout } = await execa("redis-cli", ["-p", String(port), "INFO", "all"]);
  return new RegExp(`^${field}:(.*)$`, "m").exec(stdout)?.[1]?.trim() ?? "";
}

/** BGSAVE and wait for `rdb_saves` to move and the save to end: the save alone, for reference. */
async function bgsaveAlone(port: number): Promise<number> {
  const before = Number(await info(port, "rdb_saves"));
  const started = performance.now();
  await execa("redis-cli", ["-p", String(port), "BGSAVE"]);
  while (
    Number(await info(port, "rdb_saves")) <= before ||
    (await info(port, "rdb_bgsave_in_progress")) !== "0"
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return (performance.now() - started) / 1000;
}

/** The runbook's job, with a wait loop that works (LASTSAVE polled until it moves). */
function runbookScript(port: number, dir: string, out: string): string[] {
  const cli = `redis-cli -p ${port}`;
  return [
    "sh",
    "-c",
    `set -e; before=$(${cli} LASTSAVE); ${cli} BGSAVE >/dev/null; ` +
      `while [ "$(${cli} LASTSAVE)" = "$before" ]; do sleep 0.1; done; ` +
      `cp ${dir}/dump.rdb ${out}; gzip ${out}`,
  ];
}

async function step<T extends Measurement>(context: BenchContext, label: string, run: () => Promise<T>) {
  await syncDisks();
  context.log(`${label} …`);
  const result = await run();
  const flushSeconds = await syncDisks();
  context.log(`${label}: ${result.wallSeconds.toFixed(1)} s`);
  return { ...result, flushSeconds };
}

/** `BENCH_REDIS_CHUNKING=min/avg/max` (bytes) tries other chunk sizes than the default. */
function chunkingOverride(raw: string | undefined) {
  if (raw === undefined || raw === "") return undefined;
  const [minSize, avgSize, maxSize] = raw.split("/").map(Number);
  if (!minSize || !avgSize || !maxSize)
    throw new Error(`BENCH_REDIS_CHUNKING must be min/avg/max in bytes, got "${raw}"`);
  return { minSize, avgSize, maxSize };
}

async function keysIn(rdb: string): Promise<number> {
  const { stdout } = await execa("redis-check-rdb", [rdb]);
  return Number(/(\d+) keys read/.exec(stdout)?.[1] ?? NaN);
}

async function runRedis(context: BenchContext): Promise<SectionResult> {
  const keys = Math.round(KEYS_AT_SCALE_1 * context.scale);
  const run = join(context.benchDir, "redis-run");
  await rm(run, { recursive: true, force: true });
  const runbookDir = join(run, "runbook");
  await mkdir(runbookDir, { recursive: true });
  const ours = new PrsCli(context.projectDir, join(run, "prs-backup.yaml"));
  await ours.assertBuilt();
  const server = await ScratchRedis.start({ tempDirectory: run });
  try {
    context.log(`redis: loading ${keys} keys …`);
    await pipe(server.port, dataset(keys));
    const usedMemory = Number(await info(server.port, "used_memory"));
    const repo = join(run, "repo");
    const chunking = chunkingOverride(process.env.BENCH_REDIS_CHUNKING);
    await ours.writeConfig(repo, {
      [TARGET]: {
        type: "redis",
        url: server.url,
        dataDirectory: server.dir,
        ...(chunking ? { chunking } : {}),
      },
    });
    await ours.run("init");
    // BGSAVE's own time varies by a third from run to run here: take the median of three.
    const saves = [
      await bgsaveAlone(server.port),
      await bgsaveAlone(server.port),
      await bgsaveAlone(server.port),
    ];
    const saveSeconds = saves.sort((a, b) => a - b)[1]!;
    const rdbBytes = (await stat(join(server.dir, "dump.rdb"))).size;

    const rb1 = await step(context, "runbook first backup", () =>
      measure(runbookScript(server.port, server.dir, join(runbookDir, "1.rdb"))),
    );
    const rbStored1 = await diskUsage(runbookDir);
    const our1 = await step(context, "ours first backup", () => ours.backup(TARGET));
    const stored1 = await diskUsage(repo);

    context.log(`redis: changing ${CHANGED_FRACTION * 100}% of the keys …`);
    await pipe(server.port, mutation(keys));
    const rb2 = await step(context, "runbook second backup", () =>
      measure(runbookScript(server.port, server.dir, join(runbookDir, "2.rdb"))),
    );
    const rbStored2 = (await diskUsage(runbookDir)) - rbStored1;
    const our2 = await step(context, "ours second backup", () => ours.backup(TARGET));
    const stored2 = (await diskUsage(repo)) - stored1;

    const rbOut = join(run, "runbook-restore.rdb");
    const ourOut = join(run, "ours-restore.rdb");
    const rb3 = await step(context, "runbook restore", () =>
      measure(["sh", "-c", `gunzip -c ${runbookDir}/2.rdb.gz > ${rbOut}`]),
    );
    const our3 = await step(context, "ours restore", () =>
      ours.run("restore", TARGET, "--to", ourOut, "--json"),
    );
    const [rbKeys, ourKeys] = [await keysIn(rbOut), await keysIn(ourOut)];
    const manifest = JSON.parse((await ours.run("show", our2.snapshots[0]!.id, "--json")).stdout) as {
      metadata: { rdbKeys: number; bgsaveSeconds?: number };
    };

    const steps: StepResult[] = [
      {
        step: "first backup",
        runbook: { ...rb1, storedBytes: rbStored1 },
        ours: { ...our1, storedBytes: stored1 },
        dataBytes: rdbBytes,
      },
      {
        step: "second backup (1% keys changed)",
        runbook: { ...rb2, storedBytes: rbStored2 },
        ours: { ...our2, storedBytes: stored2 },
        dataBytes: rdbBytes,
      },
      { step: "restore to RDB file", runbook: rb3, ours: our3, dataBytes: rdbBytes },
    ];
    const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`;
    const chunkingNote = chunking
      ? `min ${chunking.minSize} / avg ${chunking.avgSize} / max ${chunking.maxSize} bytes (BENCH_REDIS_CHUNKING)`
      : "the redis targets' default";
    return {
      section: "redis",
      runbookMethod: "BGSAVE, wait until LASTSAVE moves (polled every 0.1 s), cp dump.rdb, gzip (level 6)",
      steps,
      notes: [
        `Dataset: ${keys} keys (50% strings of JSON, 20% hashes, 10% lists, 10% sets, 10% sorted sets; 25% with a TTL), ` +
          `used_memory ${(usedMemory / 1e6).toFixed(0)} MB, RDB ${(rdbBytes / 1e6).toFixed(0)} MB; chunking: ${chunkingNote}.`,
        `BGSAVE alone (median of 3): ${saveSeconds.toFixed(2)} s; ours first backup / BGSAVE = ${(our1.wallSeconds / saveSeconds).toFixed(2)}× ` +
          `(target ≤ 1.3×; ours includes process start, BGSAVE, and storing and redis-check-rdb of the RDB while Redis writes it, and the fsyncs).`,
        `Stored: ours first = ${pct(stored1, rbStored1)} of the runbook's gzip; second backup stored ${pct(stored2, stored1)} of the first (target < 30%).`,
        `Restores checked with redis-check-rdb: runbook ${rbKeys} keys, ours ${ourKeys} keys (manifest: ${manifest.metadata.rdbKeys}).`,
      ],
    };
  } finally {
    await server.close();
    if (!context.keep) await rm(run, { recursive: true, force: true });
  }
}

/** Redis: the runbook's BGSAVE + cp + gzip against prs-backup's `redis` target on the same server. */
export const redisSection: Section = { name: "redis", run: runRedis };

/** Runs the Redis section alone and returns its markdown table (for callers that print it themselves). */
export async function runRedisBench(context: BenchContext): Promise<string> {
  return renderReport([await runRedis(context)], []);
}
