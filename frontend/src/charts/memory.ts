/** Memory charts: byte series over steps on a linear MiB axis. Option builders only. */

import type { EChartsCoreOption } from "echarts/core";

import type { MaybeNumber } from "../decode";
import { formatNumber } from "./format";
import { CHART_TEXT_STYLE } from "./mount_chart";
import { createTooltip } from "./tooltip";

/** A named line of `[step, bytes]` points. */
export interface ByteSeries {
  name: string;
  points: Array<[number, MaybeNumber]>;
}

/** Bytes as MiB with three significant digits: `1.5 GiB` above 1024 MiB. */
export function formatBytes(bytes: MaybeNumber): string {
  if (bytes === null || !Number.isFinite(bytes)) return "—";
  const mib = bytes / 2 ** 20;
  return mib >= 1024 ? `${formatNumber(mib / 1024)} GiB` : `${formatNumber(mib)} MiB`;
}

/** Splits a per-flush series into one line per fit, so each fit of the process is its own line. */
export function seriesPerFit(
  steps: readonly number[],
  values: readonly MaybeNumber[],
  fits: ReadonlyArray<{ fit_index: number; first_step: number }>,
): ByteSeries[] {
  const ordered = [...fits].sort((a, b) => a.first_step - b.first_step);
  return ordered.map((fit, i) => {
    const end = ordered[i + 1]?.first_step ?? Number.POSITIVE_INFINITY;
    const points = steps
      .map((step, j): [number, MaybeNumber] => [step, values[j] ?? null])
      .filter(([step]) => step >= fit.first_step && step < end);
    return { name: `fit ${fit.fit_index}`, points };
  });
}

/** A vertical marker at a step (e.g. a retrace), labelled on the canvas (never parsed as HTML). */
export interface StepMarker {
  step: number;
  label: string;
}

/** Lines of bytes over step, axis in MiB; `markers` are drawn as vertical lines on the first line. */
export function bytesChartOption(series: readonly ByteSeries[], markers: readonly StepMarker[] = []): EChartsCoreOption {
  return {
    textStyle: CHART_TEXT_STYLE,
    animation: false,
    grid: { left: 72, right: 24, top: series.length > 1 ? 40 : 16, bottom: 48 },
    legend: series.length > 1 ? { type: "scroll", top: 0, textStyle: CHART_TEXT_STYLE } : { show: false },
    tooltip: {
      trigger: "axis",
      renderMode: "html",
      confine: true,
      formatter: (params: unknown) => {
        const items = (Array.isArray(params) ? params : [params]) as Array<{ seriesName?: string; value?: unknown }>;
        const step = Array.isArray(items[0]?.value) ? (items[0].value as unknown[])[0] : "";
        return createTooltip(
          `step ${String(step)}`,
          items.map((item) => {
            const mib = Array.isArray(item.value) ? ((item.value as MaybeNumber[])[1] ?? null) : null;
            return [item.seriesName ?? "", formatBytes(mib === null ? null : mib * 2 ** 20)];
          }),
        );
      },
    },
    xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 28, scale: true },
    // Five significant digits: RSS often moves by a few MiB on a scale of hundreds.
    yAxis: { type: "value", name: "MiB", scale: true, axisLabel: { formatter: (value: number) => String(Number(value.toPrecision(5))) } },
    series: series.map((line, i) => ({
      type: "line",
      name: line.name,
      showSymbol: true,
      connectNulls: false,
      data: line.points.map(([step, bytes]) => [step, bytes === null ? null : bytes / 2 ** 20]),
      ...(i === 0 && markers.length > 0
        ? {
            markLine: {
              symbol: "none",
              silent: true,
              lineStyle: { color: "#8e24aa", type: "dashed" },
              label: { position: "insideEndTop", color: "#8e24aa" },
              data: markers.map((marker) => ({ xAxis: marker.step, label: { formatter: marker.label } })),
            },
          }
        : {}),
    })),
  };
}
