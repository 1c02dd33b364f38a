/** One line of a chart: points in time order. */
export interface Series {
  name: string;
  color: string;
  points: { t: number; v: number }[];
}

export interface ChartOptions {
  title: string;
  series: Series[];
  /** Formats a y value for the axis labels. */
  formatY: (v: number) => string;
  width?: number;
  height?: number;
}

const PAD = { left: 72, right: 16, top: 28, bottom: 40 };

/** Escapes text for HTML and SVG. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10;
  return unit * power;
}

function timeLabel(t: number, span: number): string {
  const iso = new Date(t).toISOString();
  if (span > 2 * 86_400_000) return iso.slice(5, 10);
  return span > 3_600_000 ? iso.slice(11, 16) : iso.slice(11, 19);
}

/**
 * A line chart as inline SVG: grid, axis labels, one polyline with dots per series and a
 * legend. No script, no external resources, so it renders anywhere (and in a screenshot).
 */
export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 240;
  const points = options.series.flatMap((s) => s.points);
  const title = `<text x="${PAD.left}" y="18" class="chart-title">${escapeHtml(options.title)}</text>`;
  if (points.length === 0) {
    return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">${title}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="muted">no data yet</text></svg>`;
  }
  let [tMin, tMax] = [Math.min(...points.map((p) => p.t)), Math.max(...points.map((p) => p.t))];
  if (tMax === tMin) [tMin, tMax] = [tMin - 60_000, tMax + 60_000];
  const vMaxRaw = Math.max(...points.map((p) => p.v), 0);
  const step = niceStep(vMaxRaw > 0 ? vMaxRaw : 1, 4);
  const vMax = Math.max(step, Math.ceil(vMaxRaw / step) * step);
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const x = (t: number): number => PAD.left + ((t - tMin) / (tMax - tMin)) * plotW;
  const y = (v: number): number => PAD.top + plotH - (v / vMax) * plotH;
  const parts: string[] = [title];
  for (let v = 0; v <= vMax + step / 2; v += step) {
    parts.push(
      `<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`,
      `<text x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" class="axis">${escapeHtml(options.formatY(v))}</text>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const t = tMin + ((tMax - tMin) * i) / 4;
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${height - PAD.bottom + 16}" text-anchor="${i === 0 ? "start" : i === 4 ? "end" : "middle"}" class="axis">${timeLabel(t, tMax - tMin)}</text>`,
    );
  }
  options.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const coords = s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
    parts.push(`<polyline points="${coords.join(" ")}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const c of coords.length <= 60 ? coords : []) {
      const [cx, cy] = c.split(",");
      parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${s.color}"/>`);
    }
    const lx = PAD.left + i * 130;
    parts.push(
      `<rect x="${lx}" y="${height - 14}" width="10" height="10" fill="${s.color}"/>`,
      `<text x="${lx + 14}" y="${height - 5}" class="legend">${escapeHtml(s.name.slice(0, 16))}</text>`,
    );
  });
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">${parts.join("")}</svg>`;
}
