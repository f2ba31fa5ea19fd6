import { InvalidArgumentError } from "../../common/errors.js";

export interface CurveSeries {
  label: string;
  /** Any SVG colour. */
  color: string;
  points: readonly (readonly [x: number, y: number])[];
  dashed?: boolean;
  /** Draw a dot on every point (sparse series such as a per-epoch baseline). */
  markers?: boolean;
}

export interface CurvePanel {
  title: string;
  xLabel: string;
  yLabel: string;
  xMax: number;
  yMin: number;
  yMax: number;
  series: readonly CurveSeries[];
  /** Horizontal reference lines, e.g. an accuracy target. */
  references?: readonly { y: number; label: string }[];
}

export interface RenderCurvesSvgParameters {
  panels: readonly CurvePanel[];
  /** Under the panels, small print: settings, what the axes mean. */
  caption?: string;
  panelWidth?: number;
  panelHeight?: number;
}

const MARGIN = { left: 62, right: 18, top: 36, bottom: 48 };
const FONT = "DejaVu Sans, Arial, sans-serif";

/**
 * Line charts side by side, one panel per model, as a standalone SVG document: axes with
 * round-number ticks, one polyline per series cut at the frame, dashed reference lines and
 * a legend in the lower right corner where accuracy curves leave room. Pure: returns the text.
 */
export function renderCurvesSvg(p: RenderCurvesSvgParameters): string {
  if (p.panels.length === 0) throw new InvalidArgumentError("renderCurvesSvg needs a panel");
  const panelWidth = p.panelWidth ?? 560;
  const panelHeight = p.panelHeight ?? 400;
  const captionHeight = p.caption ? 40 : 0;
  const width = panelWidth * p.panels.length;
  const height = panelHeight + captionHeight;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...p.panels.map((panel, index) =>
      renderPanel(panel, index * panelWidth, panelWidth, panelHeight),
    ),
  ];
  if (p.caption) {
    parts.push(
      ...wrap(p.caption, Math.floor(width / 6.2)).map(
        (line, index) =>
          `<text x="${MARGIN.left}" y="${panelHeight + 14 + index * 13}" font-size="11" fill="#444">${escapeXml(line)}</text>`,
      ),
    );
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

function renderPanel(panel: CurvePanel, left: number, width: number, height: number): string {
  if (!(panel.xMax > 0) || !(panel.yMax > panel.yMin)) {
    throw new InvalidArgumentError(`panel "${panel.title}" has an empty range`);
  }
  const plotLeft = left + MARGIN.left;
  const plotRight = left + width - MARGIN.right;
  const plotTop = MARGIN.top;
  const plotBottom = height - MARGIN.bottom;
  const x = (value: number) => plotLeft + (value / panel.xMax) * (plotRight - plotLeft);
  const y = (value: number) =>
    plotBottom - ((value - panel.yMin) / (panel.yMax - panel.yMin)) * (plotBottom - plotTop);
  // Points outside the axes (a first round far below yMin, a baseline past xMax) are drawn
  // and cut at the frame, so a line still leaves the plot in the direction it was heading.
  const clipId = `plot-${Math.round(left)}`;
  const out: string[] = [];
  out.push(
    `<text x="${(plotLeft + plotRight) / 2}" y="22" font-size="15" font-weight="bold" text-anchor="middle">${escapeXml(panel.title)}</text>`,
  );
  for (const tick of ticks(panel.yMin, panel.yMax, 6)) {
    out.push(
      `<line x1="${plotLeft}" y1="${y(tick)}" x2="${plotRight}" y2="${y(tick)}" stroke="#e4e4e4"/>`,
      `<text x="${plotLeft - 6}" y="${y(tick) + 4}" font-size="11" text-anchor="end">${formatTick(tick)}</text>`,
    );
  }
  for (const tick of ticks(0, panel.xMax, 8)) {
    out.push(
      `<line x1="${x(tick)}" y1="${plotBottom}" x2="${x(tick)}" y2="${plotBottom + 4}" stroke="#333"/>`,
      `<text x="${x(tick)}" y="${plotBottom + 17}" font-size="11" text-anchor="middle">${formatTick(tick)}</text>`,
    );
  }
  out.push(
    `<rect x="${plotLeft}" y="${plotTop}" width="${plotRight - plotLeft}" height="${plotBottom - plotTop}" fill="none" stroke="#333"/>`,
    `<text x="${(plotLeft + plotRight) / 2}" y="${height - 12}" font-size="12" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`,
    `<text x="${left + 16}" y="${(plotTop + plotBottom) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 ${left + 16} ${(plotTop + plotBottom) / 2})">${escapeXml(panel.yLabel)}</text>`,
  );
  for (const reference of panel.references ?? []) {
    out.push(
      `<line x1="${plotLeft}" y1="${y(reference.y)}" x2="${plotRight}" y2="${y(reference.y)}" stroke="#888" stroke-dasharray="2 3"/>`,
      `<text x="${plotLeft + 6}" y="${y(reference.y) - 4}" font-size="11" fill="#555">${escapeXml(reference.label)}</text>`,
    );
  }
  out.push(
    `<clipPath id="${clipId}"><rect x="${plotLeft}" y="${plotTop}" width="${plotRight - plotLeft}" height="${plotBottom - plotTop}"/></clipPath>`,
    `<g clip-path="url(#${clipId})">`,
  );
  for (const series of panel.series) {
    if (series.points.length === 0) continue;
    const path = series.points.map(([px, py]) => `${round1(x(px))},${round1(y(py))}`).join(" ");
    out.push(
      `<polyline points="${path}" fill="none" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="7 4"' : ""} stroke-linejoin="round"/>`,
    );
    if (series.markers) {
      for (const [px, py] of series.points) {
        out.push(
          `<circle cx="${round1(x(px))}" cy="${round1(y(py))}" r="3.2" fill="${series.color}"/>`,
        );
      }
    }
  }
  out.push("</g>");
  const legendTop = plotBottom - 12 - 17 * panel.series.length;
  const legendLeft = plotRight - 236;
  out.push(
    `<rect x="${legendLeft - 8}" y="${legendTop - 6}" width="236" height="${17 * panel.series.length + 8}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`,
  );
  panel.series.forEach((series, index) => {
    const rowY = legendTop + 8 + index * 17;
    out.push(
      `<line x1="${legendLeft}" y1="${rowY}" x2="${legendLeft + 24}" y2="${rowY}" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="7 4"' : ""}/>`,
      `<text x="${legendLeft + 30}" y="${rowY + 4}" font-size="11">${escapeXml(series.label)}</text>`,
    );
  });
  return out.join("\n");
}

/** Round-number ticks (1, 2 or 5 × 10ⁿ apart) covering [min, max]. */
export function ticks(min: number, max: number, wanted: number): number[] {
  const raw = (max - min) / Math.max(1, wanted);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) {
    out.push(Number(value.toPrecision(12)));
  }
  return out;
}

function formatTick(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(3)));
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}
