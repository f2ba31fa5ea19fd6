import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { type CurvePanel, renderCurvesSvg, ticks } from "./render-curves-svg.js";

const panel: CurvePanel = {
  title: "mlp <FedAvg> & more",
  xLabel: "round",
  yLabel: "test accuracy",
  xMax: 100,
  yMin: 0.5,
  yMax: 1,
  references: [{ y: 0.85, label: "target 0.85" }],
  series: [
    {
      label: "IID",
      color: "#00798c",
      points: [
        [0, 0.1],
        [50, 0.8],
        [100, 0.9],
      ],
    },
    { label: "centralized", color: "#333", dashed: true, markers: true, points: [[10, 0.84]] },
    { label: "empty", color: "#999", points: [] },
  ],
};

describe("ticks", () => {
  it("steps by 1, 2 or 5 × 10ⁿ and covers the range", () => {
    expect(ticks(0, 100, 8)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(ticks(0.5, 0.95, 6)).toEqual([0.5, 0.6, 0.7, 0.8, 0.9]);
    expect(ticks(0, 150, 8)).toEqual([0, 20, 40, 60, 80, 100, 120, 140]);
    expect(ticks(0, 2, 8)).toEqual([0, 0.5, 1, 1.5, 2]);
  });
});

describe("renderCurvesSvg", () => {
  const svg = renderCurvesSvg({ panels: [panel, { ...panel, title: "cnn" }], caption: "a & b" });

  it("draws one line per non-empty series in each panel, markers only where asked", () => {
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(4);
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg).toContain('width="1120"');
  });

  it("maps data to the plot area and cuts what lies outside at the frame", () => {
    // Panel 1: plot from x = 62 to 542, y = 36 (1.0) to 352 (0.5); 0.1 lies below it.
    expect(svg).toContain('points="62,604.8 302,162.4 542,99.2"');
    expect(svg).toContain('<clipPath id="plot-0"><rect x="62" y="36" width="480" height="316"/>');
    expect(svg).toContain('<g clip-path="url(#plot-0)">');
    expect(svg).toContain('<clipPath id="plot-560">');
  });

  it("escapes text", () => {
    expect(svg).toContain("mlp &lt;FedAvg&gt; &amp; more");
    expect(svg).toContain("a &amp; b");
    expect(svg).not.toContain("<FedAvg>");
  });

  it("refuses an empty figure or an empty range", () => {
    expect(() => renderCurvesSvg({ panels: [] })).toThrow(InvalidArgumentError);
    expect(() => renderCurvesSvg({ panels: [{ ...panel, yMax: 0.5 }] })).toThrow(
      InvalidArgumentError,
    );
  });
});
