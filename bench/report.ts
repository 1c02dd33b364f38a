import type { Figures, SectionResult, StepResult } from "./section.js";

const COLUMNS = [
  "Step",
  "runbook wall s",
  "ours wall s",
  "ours/runbook",
  "ours MB/s",
  "stored runbook",
  "stored ours",
  "peak RSS runbook",
  "peak RSS ours",
] as const;

function megabytes(bytes: number | undefined): string {
  if (bytes === undefined) return "—";
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 2 : 1)} MB`;
}

function seconds(figures: Figures): string {
  return figures.wallSeconds.toFixed(figures.wallSeconds < 10 ? 2 : 1);
}

function row(section: string, step: StepResult): string[] {
  const { runbook, ours } = step;
  return [
    `${section}: ${step.step}`,
    seconds(runbook),
    seconds(ours),
    `${(ours.wallSeconds / runbook.wallSeconds).toFixed(2)}×`,
    (step.dataBytes / 1e6 / ours.wallSeconds).toFixed(0),
    megabytes(runbook.storedBytes),
    megabytes(ours.storedBytes),
    megabytes(runbook.peakRssBytes),
    megabytes(ours.peakRssBytes),
  ];
}

/** A note on the writeback each step left behind, when the section measured it. */
function flushNote(result: SectionResult): string[] {
  const flushed = result.steps.filter(
    (s) => s.runbook.flushSeconds !== undefined || s.ours.flushSeconds !== undefined,
  );
  if (flushed.length === 0) return [];
  const secs = (f: Figures) => f.flushSeconds?.toFixed(2) ?? "—";
  const parts = flushed.map((s) => `${s.step} ${secs(s.runbook)} / ${secs(s.ours)} s`);
  return [
    `${result.section}: \`sync\` right after each step (writeback left behind), runbook / ours: ${parts.join("; ")}`,
  ];
}

/**
 * Renders the results of every section as one markdown table (one row per step, runbook method
 * and ours side by side), followed by the runbook methods, each section's notes and `footer`.
 */
export function renderReport(results: readonly SectionResult[], footer: readonly string[]): string {
  const lines = [
    `| ${COLUMNS.join(" | ")} |`,
    `| ${COLUMNS.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...results.flatMap((r) => r.steps.map((s) => `| ${row(r.section, s).join(" | ")} |`)),
    "",
    ...results.map((r) => `- runbook method for ${r.section}: ${r.runbookMethod}`),
    ...results.flatMap((r) => [...r.notes, ...flushNote(r)].map((note) => `- ${note}`)),
    `- ours MB/s: size of the data the step covers ÷ ours' wall time. Stored: bytes the step added to ` +
      `backup storage. Peak RSS: the whole process tree's.`,
    ...footer.map((line) => `- ${line}`),
  ];
  return `${lines.join("\n")}\n`;
}
