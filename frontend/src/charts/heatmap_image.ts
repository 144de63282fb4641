/**
 * The gradient heatmap's cells as an image (layer_heatmap.ts says why an image). Every cell gets a
 * colour key once; an image of any size is then filled pixel by pixel with the most telling cell
 * under the pixel: NaN, then ±Inf, then the largest finite norm, then zero — the rule the server
 * downsamples steps by. So a lone NaN among 2000 steps still shows when 2 steps share a pixel, and a
 * few large cells stay sharp blocks.
 */

import type { LayerStepMatrix } from "../layer_step_matrix";
import { LOG_SCALE_COLOURS, SPECIAL_CELLS, classifyNorm, type LogColourScale } from "./log_colour_scale";

// Colour keys, ordered by how telling a cell is: where cells share a pixel, the largest key wins.
const KEY_MISSING = 0;
const KEY_ZERO = 1;
const KEY_FINITE_FIRST = 2;
/** Shades of the log scale: more than the eye tells apart on the colour bar. */
const FINITE_SHADES = 252;
const KEY_INF = KEY_FINITE_FIRST + FINITE_SHADES;
const KEY_NAN = KEY_INF + 1;

/** RGBA of each colour key (4 bytes per key); missing cells are transparent. */
export const HEATMAP_PALETTE: Uint8ClampedArray = buildPalette();

/** The palette as one 32-bit word per key, in this machine's byte order (rasterizeHeatmap writes whole pixels). */
const PALETTE_WORDS = new Uint32Array(HEATMAP_PALETTE.buffer);

function buildPalette(): Uint8ClampedArray {
  const palette = new Uint8ClampedArray((KEY_NAN + 1) * 4);
  const put = (key: number, [red, green, blue]: number[]): void => palette.set([red, green, blue, 255], key * 4);
  put(KEY_ZERO, hexToRgb(SPECIAL_CELLS.zero.colour));
  put(KEY_INF, hexToRgb(SPECIAL_CELLS.inf.colour));
  put(KEY_NAN, hexToRgb(SPECIAL_CELLS.nan.colour));
  const stops = LOG_SCALE_COLOURS.map(hexToRgb);
  for (let shade = 0; shade < FINITE_SHADES; shade++) {
    // Linear in RGB between evenly spaced stops, as ECharts colours the visualMap's bar.
    const at = (shade / (FINITE_SHADES - 1)) * (stops.length - 1);
    const left = stops[Math.floor(at)];
    const right = stops[Math.ceil(at)];
    const t = at - Math.floor(at);
    put(KEY_FINITE_FIRST + shade, left.map((channel, i) => Math.round(channel + (right[i] - channel) * t)));
  }
  return palette;
}

function hexToRgb(colour: string): number[] {
  return [1, 3, 5].map((start) => Number.parseInt(colour.slice(start, start + 2), 16));
}

/** The colour key of every cell of `values` on `scale`, in the matrix's layer-major order. */
export function colourKeys(values: LayerStepMatrix, scale: LogColourScale): Uint8Array {
  const keys = new Uint8Array(values.values.length);
  for (let i = 0; i < keys.length; i++) {
    if (values.isMissing(i)) continue; // stays KEY_MISSING
    const value = values.values[i];
    switch (classifyNorm(value)) {
      case "finite":
        keys[i] = KEY_FINITE_FIRST + Math.round((scale.position(value) as number) * (FINITE_SHADES - 1));
        break;
      case "zero":
        keys[i] = KEY_ZERO;
        break;
      case "inf":
        keys[i] = KEY_INF;
        break;
      default:
        keys[i] = KEY_NAN;
    }
  }
  return keys;
}

/** Where the cells fall in the image, in image pixels. */
export interface HeatmapGeometry {
  /** Size of the image. */
  width: number;
  height: number;
  /** Left edge of the first step's column and top edge of the first layer's row (negative when zoomed past them). */
  left: number;
  top: number;
  /** Size of one cell (fractions of a pixel when cells outnumber pixels). */
  cellWidth: number;
  cellHeight: number;
}

/**
 * Draws the cells (their `keys`, `layerCount × stepCount`, layer-major) into RGBA pixels of
 * `geometry`, row by row, ready for `ImageData`. Two passes keep the work near cells + pixels:
 * along the steps, then along the layers; pixel rows that show the same layers are copied.
 */
export function rasterizeHeatmap(
  keys: Uint8Array,
  layerCount: number,
  stepCount: number,
  geometry: HeatmapGeometry,
): Uint8ClampedArray<ArrayBuffer> {
  const { width, height } = geometry;
  const columns = cellSpans(width, geometry.left, geometry.cellWidth, stepCount);
  const rows = cellSpans(height, geometry.top, geometry.cellHeight, layerCount);
  let firstLayer = layerCount;
  let lastLayer = -1;
  for (let y = 0; y < height; y++) {
    if (rows[2 * y] < 0) continue;
    firstLayer = Math.min(firstLayer, rows[2 * y]);
    lastLayer = Math.max(lastLayer, rows[2 * y + 1]);
  }

  // Pass 1: per shown layer and pixel column, the winning key among the column's steps.
  const shownLayers = Math.max(0, lastLayer - firstLayer + 1);
  const columnKeys = new Uint8Array(shownLayers * width);
  for (let layer = firstLayer; layer <= lastLayer; layer++) {
    const cellRow = layer * stepCount;
    const out = (layer - firstLayer) * width;
    for (let x = 0; x < width; x++) {
      const first = columns[2 * x];
      if (first < 0) continue;
      const last = columns[2 * x + 1];
      let key = keys[cellRow + first];
      for (let step = first + 1; step <= last; step++) key = Math.max(key, keys[cellRow + step]);
      columnKeys[out + x] = key;
    }
  }

  // Pass 2: per pixel, the winner of pass 1 among the pixel row's layers, written as one word.
  const pixels = new Uint8ClampedArray(width * height * 4);
  const words = new Uint32Array(pixels.buffer);
  for (let y = 0; y < height; y++) {
    const first = rows[2 * y];
    if (first < 0) continue;
    const last = rows[2 * y + 1];
    if (y > 0 && first === rows[2 * y - 2] && last === rows[2 * y - 1]) {
      words.copyWithin(y * width, (y - 1) * width, y * width);
      continue;
    }
    for (let x = 0; x < width; x++) {
      let key = columnKeys[(first - firstLayer) * width + x];
      for (let layer = first + 1; layer <= last; layer++) key = Math.max(key, columnKeys[(layer - firstLayer) * width + x]);
      words[y * width + x] = PALETTE_WORDS[key];
    }
  }
  return pixels;
}

/**
 * The flat index (`layer * stepCount + step`) of the cell whose colour pixel (`x`, `y`) of an
 * image of `geometry` shows — the first of the most telling cells under the pixel — or -1 where
 * the pixel shows none. For the tooltip: computed per pointer move rather than kept per pixel.
 */
export function cellAtPixel(keys: Uint8Array, layerCount: number, stepCount: number, geometry: HeatmapGeometry, x: number, y: number): number {
  const [firstStep, lastStep] = cellSpan(x, geometry.left, geometry.cellWidth, stepCount);
  const [firstLayer, lastLayer] = cellSpan(y, geometry.top, geometry.cellHeight, layerCount);
  let best = -1;
  for (let layer = firstLayer; layer <= lastLayer; layer++) {
    for (let step = firstStep; step <= lastStep; step++) {
      const cell = layer * stepCount + step;
      if (best < 0 || keys[cell] > keys[best]) best = cell;
    }
  }
  return best < 0 || keys[best] === KEY_MISSING ? -1 : best;
}

/** Fraction of a cell by which a pixel edge must pass a cell boundary to take in the next cell. */
const EDGE = 1e-6;

/**
 * The first and last of `cellCount` cells (each `cellSize` pixels, the first starting at `origin`)
 * that pixel `p` overlaps; `[-1, -2]` (an empty range) for a pixel beside every cell.
 */
function cellSpan(p: number, origin: number, cellSize: number, cellCount: number): [number, number] {
  const first = Math.max(0, Math.floor((p - origin) / cellSize + EDGE));
  const last = Math.min(cellCount - 1, Math.ceil((p + 1 - origin) / cellSize - EDGE) - 1);
  return first > last ? [-1, -2] : [first, last];
}

/** `cellSpan` of each of `pixelCount` pixels: `[first0, last0, first1, last1, …]`. */
function cellSpans(pixelCount: number, origin: number, cellSize: number, cellCount: number): Int32Array {
  const spans = new Int32Array(pixelCount * 2);
  for (let p = 0; p < pixelCount; p++) {
    const [first, last] = cellSpan(p, origin, cellSize, cellCount);
    spans[2 * p] = first;
    spans[2 * p + 1] = last;
  }
  return spans;
}
