import { describe, expect, it } from "vitest";

import type { LayerStepMatrix } from "../src/layer_step_matrix";
import { matrixFromRows } from "./matrix";
import { cellAtPixel, colourKeys, rasterizeHeatmap, type HeatmapGeometry } from "../src/charts/heatmap_image";
import { LOG_SCALE_COLOURS, SPECIAL_CELLS, createLogColourScale } from "../src/charts/log_colour_scale";

const TRANSPARENT = [0, 0, 0, 0];

function rgba(hex: string): number[] {
  return [1, 3, 5].map((start) => Number.parseInt(hex.slice(start, start + 2), 16)).concat(255);
}

/** Pixel `index` of an RGBA image. */
function pixel(pixels: Uint8ClampedArray, index: number): number[] {
  return [...pixels.subarray(index * 4, index * 4 + 4)];
}

/** One image pixel per cell. */
function oneToOne(matrix: LayerStepMatrix): HeatmapGeometry {
  return { width: matrix.stepCount, height: matrix.layerCount, left: 0, top: 0, cellWidth: 1, cellHeight: 1 };
}

function draw(matrix: LayerStepMatrix, geometry: HeatmapGeometry = oneToOne(matrix)): Uint8ClampedArray {
  const keys = colourKeys(matrix, createLogColourScale([matrix.values]));
  return rasterizeHeatmap(keys, matrix.layerCount, matrix.stepCount, geometry);
}

describe("heatmap cell colours", () => {
  // Finite values span 1e-3 .. 10: the smallest is the first colour of the scale, the largest the last.
  const matrix = matrixFromRows([
    [1e-3, 0, Number.NaN],
    [Number.POSITIVE_INFINITY, 10, null],
  ]);
  const pixels = draw(matrix);

  it("colours the ends of the log scale with its first and last colours", () => {
    expect(pixel(pixels, 0)).toEqual(rgba(LOG_SCALE_COLOURS[0]));
    expect(pixel(pixels, 4)).toEqual(rgba(LOG_SCALE_COLOURS[LOG_SCALE_COLOURS.length - 1]));
  });

  it("marks zero, NaN and Inf cells with their legend colours", () => {
    expect(pixel(pixels, 1)).toEqual(rgba(SPECIAL_CELLS.zero.colour));
    expect(pixel(pixels, 2)).toEqual(rgba(SPECIAL_CELLS.nan.colour));
    expect(pixel(pixels, 3)).toEqual(rgba(SPECIAL_CELLS.inf.colour));
  });

  it("leaves missing cells transparent", () => {
    expect(pixel(pixels, 5)).toEqual(TRANSPARENT);
  });

  it("draws -Inf like +Inf and a negative norm like NaN", () => {
    const odd = draw(matrixFromRows([[Number.NEGATIVE_INFINITY, -2, 1]]));
    expect(pixel(odd, 0)).toEqual(rgba(SPECIAL_CELLS.inf.colour));
    expect(pixel(odd, 1)).toEqual(rgba(SPECIAL_CELLS.nan.colour));
  });

  it("places a value between the ends by log10, on the shared scale", () => {
    // 0.1 is 2 of 4 decades above 1e-3: the middle colour of the scale.
    const scale = createLogColourScale([[1e-3, 10]]);
    const middle = matrixFromRows([[0.1]]);
    const image = rasterizeHeatmap(colourKeys(middle, scale), 1, 1, oneToOne(middle));
    const expected = rgba(LOG_SCALE_COLOURS[2]);
    pixel(image, 0).forEach((channel, i) => expect(Math.abs(channel - expected[i])).toBeLessThanOrEqual(2));
  });
});

describe("heatmap image of any size", () => {
  it("shows the most telling cell where several share a pixel: NaN over Inf over the largest norm over zero", () => {
    const matrix = matrixFromRows([[1, Number.NaN, Number.POSITIVE_INFINITY, 5, 0, 2, null, 0]]);
    const geometry = { width: 4, height: 1, left: 0, top: 0, cellWidth: 0.5, cellHeight: 1 };
    const pixels = draw(matrix, geometry);
    expect(pixel(pixels, 0)).toEqual(rgba(SPECIAL_CELLS.nan.colour));
    expect(pixel(pixels, 1)).toEqual(rgba(SPECIAL_CELLS.inf.colour));
    // Zero and 2 share pixel 2: it is coloured like the cell of 2 drawn on its own.
    expect(pixel(pixels, 2)).toEqual(pixel(draw(matrix), 5));
    expect(pixel(pixels, 3)).toEqual(rgba(SPECIAL_CELLS.zero.colour));
    const keys = colourKeys(matrix, createLogColourScale([matrix.values]));
    expect([0, 1, 2, 3].map((x) => cellAtPixel(keys, 1, 8, geometry, x, 0))).toEqual([1, 2, 5, 7]);
  });

  it("takes the largest of finite values sharing a pixel, across layers too", () => {
    const matrix = matrixFromRows([
      [1e-3, 1e-3],
      [1e-3, 10],
    ]);
    const geometry = { width: 1, height: 1, left: 0, top: 0, cellWidth: 0.5, cellHeight: 0.5 };
    const keys = colourKeys(matrix, createLogColourScale([matrix.values]));
    expect(pixel(rasterizeHeatmap(keys, 2, 2, geometry), 0)).toEqual(rgba(LOG_SCALE_COLOURS[LOG_SCALE_COLOURS.length - 1]));
    expect(cellAtPixel(keys, 2, 2, geometry, 0, 0)).toBe(3);
  });

  it("keeps a few large cells as sharp blocks", () => {
    const matrix = matrixFromRows([[0.5, Number.NaN]]);
    const pixels = draw(matrix, { width: 10, height: 3, left: 0, top: 0, cellWidth: 5, cellHeight: 3 });
    const finite = pixel(draw(matrix), 0);
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 10; x++) {
        expect(pixel(pixels, y * 10 + x)).toEqual(x < 5 ? finite : rgba(SPECIAL_CELLS.nan.colour));
      }
    }
  });

  it("follows the zoom: cells left of the image are cut off, pixels beside every cell stay empty", () => {
    const matrix = matrixFromRows([[Number.NaN, 0, Number.POSITIVE_INFINITY]]);
    const geometry = { width: 4, height: 1, left: -1, top: 0, cellWidth: 1, cellHeight: 1 };
    const pixels = draw(matrix, geometry);
    expect(pixel(pixels, 0)).toEqual(rgba(SPECIAL_CELLS.zero.colour));
    expect(pixel(pixels, 1)).toEqual(rgba(SPECIAL_CELLS.inf.colour));
    expect(pixel(pixels, 2)).toEqual(TRANSPARENT);
    const keys = colourKeys(matrix, createLogColourScale([matrix.values]));
    expect([0, 1, 2, 3].map((x) => cellAtPixel(keys, 1, 3, geometry, x, 0))).toEqual([1, 2, -1, -1]);
  });

  it("names no cell for a pixel that shows a missing one", () => {
    const matrix = matrixFromRows([[null, 1]]);
    const keys = colourKeys(matrix, createLogColourScale([matrix.values]));
    expect(cellAtPixel(keys, 1, 2, oneToOne(matrix), 0, 0)).toBe(-1);
    expect(cellAtPixel(keys, 1, 2, oneToOne(matrix), 1, 0)).toBe(1);
  });
});
