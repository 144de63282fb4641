/**
 * Turns gradient data of one or more runs into line-chart series. Kept apart from ECharts so the
 * naming and overlay rules can be tested without a browser.
 */

import type { GradientsData } from "../panels/gradients/data";

/** One line of a chart: `points` are `[step, value]`, `value` null where the line has a gap. */
export interface LineSeries {
  name: string;
  run: string;
  layer: string | null;
  points: Array<[number, number | null]>;
}

/**
 * A log axis can only place finite positive values; everything else becomes a gap (the heatmap
 * marks zeros and non-finite values explicitly).
 */
export function valueOnLogAxis(value: number | null): number | null {
  return value !== null && Number.isFinite(value) && value > 0 ? value : null;
}

/** Every layer of the given runs, in the order of the first run that has it. */
export function layerUnion(runs: ReadonlyArray<Pick<GradientsData, "layers">>): string[] {
  const seen = new Set<string>();
  const layers: string[] = [];
  for (const data of runs) {
    for (const layer of data.layers) {
      if (!seen.has(layer)) {
        seen.add(layer);
        layers.push(layer);
      }
    }
  }
  return layers;
}

/** The layers shown before the user picks any: first, middle and last (deduplicated). */
export function defaultLayerSelection(layers: readonly string[]): string[] {
  if (layers.length === 0) return [];
  const indices = [0, Math.floor((layers.length - 1) / 2), layers.length - 1];
  return [...new Set(indices)].map((i) => layers[i]);
}

/** Series name: the layer alone for one run, "run · layer" when runs are overlaid. */
export function seriesName(run: string, layer: string, runCount: number): string {
  return runCount > 1 ? `${run} · ${layer}` : layer;
}

/**
 * One series per (run, selected layer) that exists in the run, runs in the given order, layers in
 * selection order within a run.
 */
export function buildLayerSeries(runs: readonly GradientsData[], selectedLayers: readonly string[]): LineSeries[] {
  const series: LineSeries[] = [];
  for (const data of runs) {
    for (const layer of selectedLayers) {
      const row = data.layers.indexOf(layer);
      if (row < 0) continue;
      series.push({
        name: seriesName(data.run, layer, runs.length),
        run: data.run,
        layer,
        points: data.steps.map((step, j) => [step, valueOnLogAxis(data.grad_norm.at(row, j))]),
      });
    }
  }
  return series;
}

/** One series per run of its global gradient norm, named by the run. */
export function buildGlobalNormSeries(runs: readonly GradientsData[]): LineSeries[] {
  return runs.map((data) => ({
    name: data.run,
    run: data.run,
    layer: null,
    points: data.steps.map((step, j) => [step, valueOnLogAxis(data.global_norm[j] ?? null)]),
  }));
}

/** Metrics the server only records at sampled steps; a missing cell there means "not sampled". */
export type SampledMetric = "weight_norm" | "update_ratio";

/** Whether `data` has at least one sampled (non-missing) entry of `metric`, in any layer. */
export function hasSampledValues(data: Pick<GradientsData, SampledMetric>, metric: SampledMetric): boolean {
  return data[metric].hasValue();
}

/**
 * Like `buildLayerSeries`, for a sampled metric: a missing entry (step not sampled) yields no point at
 * all, so the line runs straight from one sample to the next; a sampled value a log axis cannot
 * place (NaN, Inf, zero) stays a `[step, null]` gap that breaks the line. (Skipping rather than
 * relying on ECharts' `connectNulls`, which would also bridge those gaps.) Series without a single
 * sampled entry are left out, so they add no empty legend entries.
 */
export function buildSampledLayerSeries(
  runs: readonly GradientsData[],
  selectedLayers: readonly string[],
  metric: SampledMetric,
): LineSeries[] {
  const series: LineSeries[] = [];
  for (const data of runs) {
    for (const layer of selectedLayers) {
      const row = data.layers.indexOf(layer);
      if (row < 0) continue;
      const points: Array<[number, number | null]> = [];
      data.steps.forEach((step, j) => {
        const value = data[metric].at(row, j);
        if (value !== null) points.push([step, valueOnLogAxis(value)]);
      });
      if (points.length === 0) continue;
      series.push({ name: seriesName(data.run, layer, runs.length), run: data.run, layer, points });
    }
  }
  return series;
}
