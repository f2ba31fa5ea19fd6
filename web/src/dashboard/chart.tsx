import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

/** A uPlot line chart over rounds that follows its container's width (phones included). */
export function RoundChart(props: { title: string; rounds: number[]; series: ChartSeries[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const key = props.series.map((s) => s.label).join("|");

  useEffect(() => {
    const element = box.current!;
    const options: uPlot.Options = {
      title: props.title,
      width: Math.max(200, element.clientWidth),
      height: 180,
      scales: { x: { time: false } },
      axes: [{ label: "round", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, {}],
      series: [
        { label: "round" },
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          points: { show: true },
        })),
      ],
    };
    plot.current = new uPlot(
      options,
      [props.rounds, ...props.series.map((s) => s.values)],
      element,
    );
    const resize = new ResizeObserver(() =>
      plot.current?.setSize({ width: Math.max(200, element.clientWidth), height: 180 }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
    };
  }, [key]);

  useEffect(() => {
    plot.current?.setData([props.rounds, ...props.series.map((s) => s.values)]);
  }, [props.rounds, props.series]);

  return <div class="chart" ref={box} data-chart={props.title} />;
}
