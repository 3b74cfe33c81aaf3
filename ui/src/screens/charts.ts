// Charts through Chart.js, loaded as its own chunk the first time a chart is drawn. Drawn
// without animation, so what is on screen is final at once (and screenshots show it).

import { clp } from "../format";

type ChartModule = typeof import("chart.js");
let loaded: Promise<ChartModule> | null = null;

function chartJs(): Promise<ChartModule> {
  loaded ??= import("chart.js").then((m) => {
    m.Chart.register(
      m.BarController,
      m.BarElement,
      m.LineController,
      m.LineElement,
      m.PointElement,
      m.CategoryScale,
      m.LinearScale,
      m.Legend,
      m.Tooltip,
      m.Filler,
    );
    return m;
  });
  return loaded;
}

const COLORS = ["#1f5c99", "#8fb3d9", "#d97706", "#15803d", "#7c3aed", "#b91c1c"];

/** Charts drawn on each canvas, so a redraw replaces the old one. */
const drawn = new WeakMap<HTMLCanvasElement, { destroy(): void }>();

function pesosAxis() {
  return { ticks: { callback: (v: string | number) => clp(Number(v)) } };
}

/** A grouped bar chart: one group per label, one bar per series. */
export async function barChart(
  canvas: HTMLCanvasElement,
  labels: string[],
  series: Array<{ name: string; data: number[] }>,
): Promise<void> {
  const { Chart } = await chartJs();
  drawn.get(canvas)?.destroy();
  const chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels,
      datasets: series.map((s, i) => ({ label: s.name, data: s.data, backgroundColor: COLORS[i % COLORS.length] })),
    },
    options: {
      animation: false,
      responsive: false,
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${clp(Number(c.raw))}` } } },
      scales: { y: pesosAxis() },
    },
  });
  drawn.set(canvas, chart);
  canvas.dataset.drawn = String(labels.length);
}

/** Lines over weeks; a zero line marks where balances go negative. */
export async function lineChart(
  canvas: HTMLCanvasElement,
  labels: string[],
  series: Array<{ name: string; data: Array<number | null> }>,
): Promise<void> {
  const { Chart } = await chartJs();
  drawn.get(canvas)?.destroy();
  const chart = new Chart(canvas, {
    type: "line",
    data: {
      labels,
      datasets: series.map((s, i) => ({
        label: s.name,
        data: s.data,
        borderColor: COLORS[i % COLORS.length],
        backgroundColor: COLORS[i % COLORS.length],
        borderWidth: i === 0 ? 3 : 1.5,
        spanGaps: false,
      })),
    },
    options: {
      animation: false,
      responsive: false,
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${clp(Number(c.raw))}` } } },
      scales: {
        y: {
          ...pesosAxis(),
          grid: { color: (c: { tick?: { value: number } }) => (c.tick?.value === 0 ? "#b91c1c" : "#e5e7eb") },
        },
      },
    },
  });
  drawn.set(canvas, chart);
  canvas.dataset.drawn = String(labels.length);
}
