import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { comparisonTool } from "./comparison-tools.js";
import { type Dataset, prepareDataset } from "./dataset.js";
import { diskUsage, measure, step, type Measurement } from "./measure.js";
import { mutate, type MutationResult } from "./mutate.js";
import { PrsCli } from "./prs-cli.js";
import type { BenchContext, Section, SectionResult, StepResult } from "./section.js";
import { compareTrees } from "./tree-compare.js";

const TARGET = "uploads";
const MUTATION_SEED = 1;

/** Scratch paths of one run of the files section. */
function layout(context: BenchContext) {
  const run = join(context.benchDir, "files-run");
  return {
    // One dataset per scale, so a quick smoke run does not throw the full-size tree away.
    source: join(context.benchDir, `files-dataset-scale-${context.scale}`),
    run,
    rsyncDest: join(run, "rsync"),
    rsyncRestore: join(run, "rsync-restore"),
    ours: join(run, "ours"),
    ourRestore: join(run, "ours-restore"),
    restic: join(run, "restic"),
    resticRestore: join(run, "restic-restore"),
  };
}

/** Snapshot folder names as the runbook makes them (`date +%Y%m%d`), distinct within a run. */
function snapshotName(n: number): string {
  return `${new Date().toISOString().slice(0, 10).replaceAll("-", "")}-${n}`;
}

async function verifyRestores(
  paths: ReturnType<typeof layout>,
  mutation: MutationResult,
  withRestic: boolean,
): Promise<string[]> {
  const alwaysHash = [...mutation.modified, ...mutation.added];
  const notes: string[] = [];
  const restored: Record<string, string> = {
    rsync: paths.rsyncRestore,
    ours: join(paths.ourRestore, paths.source),
    ...(withRestic ? { restic: join(paths.resticRestore, paths.source) } : {}),
  };
  for (const [who, actual] of Object.entries(restored)) {
    const check = await compareTrees({ expected: paths.source, actual, alwaysHash });
    const meta = check.metadataDifferences;
    notes.push(
      `${who} restore verified: ${check.entries} entries, ${check.hashed} files hashed` +
        (meta.length > 0 ? `; WARNING: ${meta.length} differ in mode or mtime (e.g. ${meta[0]})` : ""),
    );
  }
  return notes;
}

function datasetNote(dataset: Dataset, mutation: MutationResult): string {
  const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
  return (
    `Dataset: ${dataset.files} files, ${mb(dataset.bytes)} MB (scale ${dataset.params.scale}, seed ` +
    `${dataset.params.seed}); ${((100 * dataset.textFiles) / dataset.files).toFixed(0)}% of files ` +
    `(${((100 * dataset.textBytes) / dataset.bytes).toFixed(0)}% of bytes) compressible text, the rest ` +
    `incompressible; mutation: ${mutation.modified.length} files modified, ${mutation.added.length} added ` +
    `(${mb(mutation.bytesWritten)} MB written).`
  );
}

async function runFiles(context: BenchContext): Promise<SectionResult> {
  const paths = layout(context);
  const ours = new PrsCli(context.projectDir, join(paths.ours, "prs-backup.yaml"));
  await ours.assertBuilt();
  context.log(`dataset (scale ${context.scale}) in ${paths.source} …`);
  const dataset = await prepareDataset({ dir: paths.source, scale: context.scale });
  context.log(`dataset ${dataset.reused ? "reused" : "generated"} in ${dataset.seconds.toFixed(1)} s`);
  await rm(paths.run, { recursive: true, force: true });
  await mkdir(paths.rsyncDest, { recursive: true });
  await mkdir(paths.ours, { recursive: true });
  const repo = join(paths.ours, "repo");
  await ours.writeConfig(repo, { [TARGET]: { type: "files", paths: [paths.source] } });
  await ours.run("init");
  // restic, as the reference for stored bytes and for speed, when it can be had.
  const resticVersion = await comparisonTool(context, "restic", "restic");
  const restic = (...args: string[]) =>
    measure([
      "env",
      "RESTIC_PASSWORD=prs-bench",
      `RESTIC_CACHE_DIR=${join(paths.run, "restic-cache")}`,
      "restic",
      "-r",
      paths.restic,
      "--quiet",
      ...args,
    ]);
  if (resticVersion) await restic("init");

  const [first, second] = [join(paths.rsyncDest, snapshotName(1)), join(paths.rsyncDest, snapshotName(2))];
  const rsync1 = await step(context, "rsync first snapshot", () =>
    measure(["rsync", "-a", `${paths.source}/`, `${first}/`]),
  );
  const rsyncStored1 = await diskUsage(paths.rsyncDest);
  const ours1 = await step(context, "ours first snapshot", () => ours.backup(TARGET));
  const repoStored1 = await diskUsage(repo);
  const restic1 = resticVersion
    ? await step(context, "restic first snapshot", () => restic("backup", paths.source))
    : undefined;
  const resticStored1 = resticVersion ? await diskUsage(paths.restic) : 0;

  const mutation = await mutate(paths.source, MUTATION_SEED);
  const bytesAfter = dataset.bytes + mutation.bytesAdded;
  const rsync2 = await step(context, "rsync re-snapshot", () =>
    measure(["rsync", "-a", `--link-dest=${first}`, `${paths.source}/`, `${second}/`]),
  );
  const rsyncStored2 = (await diskUsage(paths.rsyncDest)) - rsyncStored1;
  const ours2 = await step(context, "ours re-snapshot", () => ours.backup(TARGET));
  const repoStored2 = (await diskUsage(repo)) - repoStored1;
  const restic2 = resticVersion
    ? await step(context, "restic re-snapshot", () => restic("backup", paths.source))
    : undefined;
  const resticStored2 = resticVersion ? (await diskUsage(paths.restic)) - resticStored1 : 0;

  const rsync3 = await step(context, "rsync restore", () =>
    measure(["rsync", "-a", `${second}/`, `${paths.rsyncRestore}/`]),
  );
  const ours3 = await step(context, "ours restore", () =>
    ours.run("restore", TARGET, "--to", paths.ourRestore, "--json"),
  );
  const restic3 = resticVersion
    ? await step(context, "restic restore", () =>
        restic("restore", "latest", "--target", paths.resticRestore),
      )
    : undefined;
  const checks = await verifyRestores(paths, mutation, resticVersion !== undefined);
  const resticNote =
    resticVersion && restic1 && restic2 && restic3
      ? resticComparison(resticVersion, [
          {
            what: "first snapshot",
            restic: restic1,
            ours: ours1,
            resticBytes: resticStored1,
            ourBytes: repoStored1,
          },
          {
            what: "re-snapshot",
            restic: restic2,
            ours: ours2,
            resticBytes: resticStored2,
            ourBytes: repoStored2,
          },
          { what: "full restore", restic: restic3, ours: ours3 },
        ])
      : "restic is not installed here and could not be installed, so it is not compared.";

  const steps: StepResult[] = [
    {
      step: "first snapshot",
      runbook: { ...rsync1, storedBytes: rsyncStored1 },
      ours: { ...ours1, storedBytes: repoStored1 },
      dataBytes: dataset.bytes,
    },
    {
      step: "re-snapshot (1% changed)",
      runbook: { ...rsync2, storedBytes: rsyncStored2 },
      ours: { ...ours2, storedBytes: repoStored2 },
      dataBytes: bytesAfter,
    },
    { step: "full restore", runbook: rsync3, ours: ours3, dataBytes: bytesAfter },
  ];
  if (!context.keep) await rm(paths.run, { recursive: true, force: true });
  const reported = [...ours1.snapshots, ...ours2.snapshots].map((s) => s.storedBytes);
  return {
    section: "files",
    runbookMethod: "rsync -a, re-snapshot with --link-dest; restore rsync -a",
    steps,
    notes: [
      datasetNote(dataset, mutation),
      `Bytes stored are \`du -sb\` growth of the rsync destination and of our repository; ours also ` +
        `reported storedBytes ${reported.join(" / ")} in \`backup --json\`.`,
      resticNote,
      ...checks,
    ],
  };
}

/** One line comparing restic with ours, step by step: times, bytes and ratios. */
function resticComparison(
  version: string,
  rows: { what: string; restic: Measurement; ours: Measurement; resticBytes?: number; ourBytes?: number }[],
): string {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  const parts = rows.map((r) => {
    const time = `${r.what} restic ${r.restic.wallSeconds.toFixed(2)} s vs ours ${r.ours.wallSeconds.toFixed(2)} s (${(r.ours.wallSeconds / r.restic.wallSeconds).toFixed(2)}×)`;
    if (r.resticBytes === undefined || r.ourBytes === undefined) return time;
    return `${time}, stored ${mb(r.resticBytes)} vs ${mb(r.ourBytes)} (${(r.ourBytes / r.resticBytes).toFixed(2)}×)`;
  });
  return `${version} on the same tree, in the same run: ${parts.join("; ")}.`;
}

/** Files: the runbook's rsync snapshots against prs-backup's `files` target on the same tree. */
export const filesSection: Section = { name: "files", run: runFiles };
