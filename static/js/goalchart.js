// A goal's progress over time as an SVG line chart: one point per check-in (0–10), dated on a
// time axis so gaps between check-ins show as gaps. Readable without colour: every point is a
// marker with its value written above it, the axes are labelled, dates are in the reader's
// language, and the chart carries a text summary (role="img") beside the check-in table.
import { t } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const HEIGHT = 240;
const PAD = { left: 44, right: 20, top: 24, bottom: 40 };
const MAX_RATING = 10;
const DAY_MS = 86_400_000;
const MAX_DATE_LABELS = 7;

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) n.setAttribute(key, String(value));
  if (text !== undefined) n.textContent = String(text);
  return n;
}

/** A check-in's day ("2026-12-01", the mentee's own date) as the reader says it. */
export function formatDay(day, language, options = { day: "numeric", month: "short" }) {
  return new Intl.DateTimeFormat(language, { ...options, timeZone: "UTC" }).format(new Date(`${day}T00:00:00Z`));
}

/** The chart for these check-ins (ascending by day). */
export function progressChart(checkIns, language, title) {
  const points = checkIns.map((c) => ({ ...c, time: Date.parse(`${c.day}T00:00:00Z`) }));
  const first = points[0].time;
  const span = Math.max(points.at(-1).time - first, DAY_MS);
  const x = (time) => PAD.left + ((time - first) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (rating) => PAD.top + (1 - rating / MAX_RATING) * (HEIGHT - PAD.top - PAD.bottom);
  const summary = t("goals.chart_summary", {
    count: points.length,
    from: formatDay(points[0].day, language, { dateStyle: "medium" }),
    to: formatDay(points.at(-1).day, language, { dateStyle: "medium" }),
    values: points.map((p) => `${formatDay(p.day, language)}: ${p.rating}`).join(", "),
  });
  const svg = node("svg", { class: "progress-chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": `${title}. ${summary}` });
  svg.append(node("title", {}, title));
  for (const rating of [0, 5, 10]) {
    svg.append(node("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(rating), y2: y(rating) }),
      node("text", { class: "axis-label", x: PAD.left - 8, y: y(rating) + 4, "text-anchor": "end" }, rating));
  }
  svg.append(node("text", { class: "axis-title", x: 12, y: PAD.top - 10 }, t("goals.chart_axis")));
  const step = Math.ceil(points.length / MAX_DATE_LABELS);
  points.forEach((p, i) => {
    if (i % step === 0 || i === points.length - 1) {
      svg.append(node("text", { class: "axis-label", x: x(p.time), y: HEIGHT - PAD.bottom + 18, "text-anchor": "middle" }, formatDay(p.day, language)));
    }
  });
  svg.append(node("polyline", { class: "line", fill: "none", points: points.map((p) => `${x(p.time)},${y(p.rating)}`).join(" ") }));
  for (const p of points) {
    svg.append(node("circle", { class: "point", cx: x(p.time), cy: y(p.rating), r: 5 }),
      node("text", { class: "point-label", x: x(p.time), y: y(p.rating) - 10, "text-anchor": "middle" }, p.rating));
  }
  return svg;
}
