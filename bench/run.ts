import { readFileSync, readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { benchContextFromEnv } from "./bench-env.js";
import { filesSection } from "./files.js";
import { pitrBench } from "./pitr.js";
import { postgresSection } from "./postgres.js";
import { redisSection } from "./redis.js";
import { medianOfRuns } from "./median-runs.js";
import { renderReport } from "./report.js";
import type { Section, SectionResult } from "./section.js";

/** Every section of the side-by-side table, in the order they run when none is named. */
const SECTIONS: readonly Section[] = [filesSection, postgresSection, redisSection];
/** PITR has figures of its own (WAL push latency, replay): its own table, after the main one. */
const PITR = "pitr";

/** Bad command-line arguments: exit code 2, as the CLI contract uses for bad usage. */
class UsageError extends Error {}

function selectSections(names: readonly string[]): Section[] {
  if (names.length === 0) return [...SECTIONS];
  return names
    .filter((name) => name !== PITR)
    .map((name) => {
      const section = SECTIONS.find((s) => s.name === name);
      if (section === undefined) {
        throw new UsageError(
          `unknown benchmark section "${name}" (known: ${[...SECTIONS.map((s) => s.name), PITR].join(", ")})`,
        );
      }
      return section;
    });
}

/** True when the kernel's DAMON is running (it may page out cold page cache behind our back). */
function damonActive(): boolean {
  const dir = "/sys/kernel/mm/damon/admin/kdamonds";
  try {
    return readdirSync(dir).some((k) => readFileSync(`${dir}/${k}/state`, "utf8").trim() === "on");
  } catch {
    return false;
  }
}

function machineLine(): string {
  const gib = (totalmem() / 2 ** 30).toFixed(0);
  const damon = damonActive() ? ", though DAMON reclaim is active here and pages out cold cache" : "";
  return (
    `Machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? "unknown"}), ${gib} GiB RAM, ` +
    `node ${process.version}, ${process.platform}; warm page cache (\`sync\` before each measured ` +
    `step, caches not dropped${damon}); peak RSS = VmHWM summed over the process tree, sampled every 50 ms.`
  );
}

/** `node dist/bench/run.js [SECTION...]`: runs the sections, prints the table, writes results.md. */
async function main(argv: readonly string[]): Promise<void> {
  const sections = selectSections(argv);
  const context = benchContextFromEnv();
  await mkdir(context.benchDir, { recursive: true });
  const results: SectionResult[] = [];
  for (const section of sections) {
    const runs: SectionResult[] = [];
    for (let n = 1; n <= context.repeat; n++) {
      context.log(`section ${section.name}, run ${n} of ${context.repeat}`);
      runs.push(await section.run(context));
    }
    results.push(medianOfRuns(runs));
  }
  let report = results.length > 0 ? renderReport(results, [machineLine()]) : `${machineLine()}\n`;
  if (argv.length === 0 || argv.includes(PITR)) {
    context.log("section pitr");
    report += `\n${await pitrBench(context)}`;
  }
  const resultsPath = join(context.benchDir, "results.md");
  await writeFile(resultsPath, report);
  process.stdout.write(report);
  context.log(`written to ${resultsPath}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
