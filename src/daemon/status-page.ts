import type { RunRecord } from "../repo/run-history.js";
import { jobOfRun, type StatusReport, type TargetStatus } from "../ops/status.js";
import { formatBytes, formatDuration } from "../util/format.js";
import type { DaemonState, JobRef } from "./events.js";
import { escapeHtml, lineChart, type Series } from "./svg-chart.js";

export interface PageInput {
  report: StatusReport;
  runs: RunRecord[];
  state: DaemonState;
  host: string;
  active: { job: JobRef; running: boolean }[];
}

const COLORS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
const CHART_DAYS = 30;

type Light = "green" | "amber" | "red" | "grey";

function lightOf(t: TargetStatus): Light {
  if (!t.enabled) return "grey";
  if (t.lastError || t.lastSuccess === null) return "red";
  if (t.stale || t.lastSnapshotStatus === "partial") return "amber";
  return "green";
}

function ago(iso: string | null, now: number): string {
  if (iso === null) return "never";
  return `${formatDuration(Math.max(0, (now - Date.parse(iso)) / 1000))} ago`;
}

/** Repository size over time, rebuilt backwards from today's size and the runs' added and reclaimed bytes. */
export function repositorySeries(report: StatusReport, runs: RunRecord[]): { t: number; v: number }[] {
  let size = report.repository.bytes;
  const points = [{ t: Date.parse(report.time), v: size }];
  for (const run of [...runs].reverse()) {
    const delta =
      run.kind === "backup" ? (run.storedBytes ?? 0) : run.kind === "prune" ? -(run.bytes ?? 0) : 0;
    if (delta === 0) continue;
    points.push({ t: Date.parse(run.endTime), v: size });
    size = Math.max(0, size - delta);
    points.push({ t: Date.parse(run.startTime), v: size });
  }
  return points.reverse();
}

function durationSeries(runs: RunRecord[]): Series[] {
  const byJob = new Map<string, { t: number; v: number }[]>();
  for (const run of runs) {
    const job = jobOfRun(run);
    const list = byJob.get(job) ?? [];
    list.push({
      t: Date.parse(run.startTime),
      v: (Date.parse(run.endTime) - Date.parse(run.startTime)) / 1000,
    });
    byJob.set(job, list);
  }
  return [...byJob].map(([name, points], i) => ({ name, color: COLORS[i % COLORS.length]!, points }));
}

function targetRow(t: TargetStatus, now: number, running: boolean): string {
  const light = lightOf(t);
  const run = t.lastRun;
  const problems = t.problems.map((p) => `<div class="problem">${escapeHtml(p)}</div>`).join("");
  return `<tr data-target="${escapeHtml(t.name)}" data-light="${light}">
  <td><span class="light ${light}" title="${light}"></span></td>
  <td class="name">${escapeHtml(t.name)}${running ? ' <span class="badge">running</span>' : ""}</td>
  <td>${escapeHtml(t.type)}</td>
  <td><code>${escapeHtml(t.schedule)}</code><div class="muted">every ${formatDuration(t.periodSeconds)}</div></td>
  <td>${ago(t.lastSuccess, now)}</td>
  <td>${t.lastSnapshot ? `<code>${escapeHtml(t.lastSnapshot)}</code> ${t.lastSnapshotBytes === null ? "" : formatBytes(t.lastSnapshotBytes)}` : '<span class="muted">none</span>'}</td>
  <td>${run ? `${escapeHtml(run.outcome)}, ${formatDuration(run.seconds)}<div class="muted">${ago(run.endTime, now)}</div>` : '<span class="muted">never</span>'}</td>
  <td>${problems || '<span class="ok">all good</span>'}</td>
</tr>`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1f2933}
header{background:#1f2933;color:#fff;padding:14px 24px;display:flex;align-items:center;gap:16px}
header h1{font-size:18px;margin:0;font-weight:600}
main{padding:20px 24px;max-width:1280px}
.state{padding:2px 10px;border-radius:10px;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.state.running{background:#059669}.state.draining,.state.starting{background:#d97706}.state.stopped,.state.failed{background:#dc2626}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin-bottom:20px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .v{font-size:22px;font-weight:600}.card .k{color:#616e7c;font-size:12px;text-transform:uppercase}
section{background:#fff;border-radius:8px;padding:12px 16px;margin-bottom:20px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:15px;margin:4px 0 10px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{font-size:12px;color:#616e7c;text-transform:uppercase;font-weight:600}
.light{display:inline-block;width:14px;height:14px;border-radius:50%;margin-top:3px}
.green{background:#10b981}.amber{background:#f59e0b}.red{background:#ef4444}.grey{background:#9aa5b1}
.problem{color:#b91c1c}.ok{color:#047857}.muted{color:#7b8794;font-size:12px}.name{font-weight:600}
.badge{background:#dbeafe;color:#1e40af;border-radius:8px;padding:0 6px;font-size:11px;font-weight:500}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:20px}
svg{width:100%;height:auto}.grid{stroke:#e4e7eb}.axis,.legend{font-size:11px;fill:#616e7c}.chart-title{font-size:13px;font-weight:600;fill:#1f2933}
code{font-size:12px;white-space:nowrap}#jobs td:first-child{width:24px}#jobs td:nth-child(2){width:120px}
`;

/** The status page: plain HTML, inline SVG charts, no script; refreshes itself every 30 seconds. */
export function renderStatusPage(input: PageInput): string {
  const { report, runs, state } = input;
  const now = Date.parse(report.time);
  const running = new Set(input.active.filter((a) => a.running).map((a) => a.job.name));
  const recentRuns = runs.filter((r) => Date.parse(r.startTime) >= now - CHART_DAYS * 86_400_000);
  const repo = report.repository;
  const lights = report.targets.map(lightOf);
  const overall = lights.includes("red") ? "red" : lights.includes("amber") ? "amber" : "green";
  const cards = [
    ["Targets", `${lights.filter((l) => l === "green").length} / ${report.targets.length} healthy`],
    ["Repository", formatBytes(repo.bytes)],
    ["Free space", repo.freeBytes === null ? "unknown" : formatBytes(repo.freeBytes)],
    ["Growth per day", repo.growthBytesPerDay === null ? "no data yet" : formatBytes(repo.growthBytesPerDay)],
    [
      "Days until full",
      repo.daysUntilFull === null
        ? "not growing"
        : repo.daysUntilFull > 3650
          ? "over 10 years"
          : String(repo.daysUntilFull),
    ],
  ]
    .map(
      ([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${escapeHtml(v!)}</div></div>`,
    )
    .join("");
  const jobs = report.jobs
    .map((j) => {
      const last = j.lastRun;
      const light: Light = last === null ? "grey" : last.outcome === "success" ? "green" : "red";
      return `<tr data-job="${j.name}" data-light="${light}"><td><span class="light ${light}"></span></td><td class="name">${j.name}${running.has(j.name) ? ' <span class="badge">running</span>' : ""}</td><td>${last ? `${escapeHtml(last.outcome)} ${ago(last.endTime, now)}, ${formatDuration(last.seconds)}` : '<span class="muted">never run</span>'}</td><td>${last?.error ? `<div class="problem">${escapeHtml(last.error.message.split("\n")[0] ?? "")}</div>` : ""}</td></tr>`;
    })
    .join("");
  const history = [...runs]
    .reverse()
    .slice(0, 15)
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.startTime.slice(0, 19).replace("T", " "))}</td><td>${escapeHtml(jobOfRun(r))}</td><td>${escapeHtml(r.kind)}</td><td><span class="light ${r.outcome === "success" ? "green" : r.outcome === "partial" ? "amber" : "red"}"></span> ${r.outcome}</td><td>${formatDuration((Date.parse(r.endTime) - Date.parse(r.startTime)) / 1000)}</td><td>${r.storedBytes !== undefined ? formatBytes(r.storedBytes) + " added" : ""}</td><td class="problem">${escapeHtml(r.error?.message.split("\n")[0] ?? "")}</td></tr>`,
    )
    .join("");
  const growth = lineChart({
    title: `Repository size (last ${CHART_DAYS} days)`,
    series: [{ name: "repository", color: COLORS[0]!, points: repositorySeries(report, recentRuns) }],
    formatY: formatBytes,
  });
  const durations = lineChart({
    title: "Job durations (seconds)",
    series: durationSeries(recentRuns),
    formatY: (v) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : `${Math.round(v * 1000)} ms`),
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${overall === "green" ? "OK" : "PROBLEM"} · prs-backup on ${escapeHtml(input.host)}</title>
<style>${STYLE}</style></head>
<body>
<header><span class="light ${overall}"></span><h1>prs-backup on ${escapeHtml(input.host)}</h1>
<span class="state ${state}" id="daemon-state">${state}</span><span class="muted" style="color:#cbd2d9">as of ${escapeHtml(report.time.slice(0, 19).replace("T", " "))} UTC</span></header>
<main>
<div class="cards">${cards}</div>
<section><h2>Targets</h2><table id="targets"><thead><tr><th></th><th>Target</th><th>Type</th><th>Schedule</th><th>Last success</th><th>Last snapshot</th><th>Last run</th><th>Problems</th></tr></thead>
<tbody>${report.targets.map((t) => targetRow(t, now, running.has(t.name))).join("\n")}</tbody></table></section>
<section><h2>Repository jobs</h2><table id="jobs"><thead><tr><th></th><th>Job</th><th>Last run</th><th>Problem</th></tr></thead><tbody>${jobs}</tbody></table></section>
<section><h2>Trends</h2><div class="charts"><div id="chart-growth">${growth}</div><div id="chart-durations">${durations}</div></div></section>
<section><h2>Recent runs</h2><table id="runs"><thead><tr><th>Started (UTC)</th><th>Job</th><th>Kind</th><th>Outcome</th><th>Duration</th><th>Added</th><th>Error</th></tr></thead><tbody>${history || '<tr><td colspan="7" class="muted">no runs yet</td></tr>'}</tbody></table></section>
<p class="muted">Also: <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/status.json">/status.json</a></p>
</main></body></html>
`;
}
