// The timeline chart (uPlot): repository size after each snapshot, each snapshot's new data
// and what it holds, on a logarithmic scale so that one large snapshot does not flatten the
// others. The numbers come from the page (data-series), nothing is fetched. The chart follows
// the width of its box; a click opens the snapshot under the cursor.
(function () {
  const el = document.getElementById("chart");
  if (!el || !window.uPlot) return;
  const s = JSON.parse(el.dataset.series);
  if (!s.t.length) { el.remove(); return; }
  const units = [["GB", 2 ** 30], ["MB", 2 ** 20], ["KB", 2 ** 10]];
  function size(n) {
    if (n == null) return "-";
    for (const [unit, scale] of units) if (n >= scale) return (n / scale).toFixed(1) + " " + unit;
    return Math.round(n) + " B";
  }
  // A logarithmic scale has no zero: a snapshot that added nothing has no point there.
  const positive = (xs) => xs.map((x) => (x > 0 ? x : null));
  const opts = {
    width: el.clientWidth,
    height: 300,
    // From a decade below the smallest value: the smallest snapshot stands above the axis.
    scales: { y: { distr: 3, log: 10, range: (u, min, max) => [
      10 ** (Math.floor(Math.log10(Math.max(min, 1))) - 1), 10 ** Math.ceil(Math.log10(Math.max(max, 10)))] } },
    cursor: { drag: { x: false, y: false } },
    series: [
      { value: (u, t) => (t == null ? "-" : new Date(t * 1000).toLocaleString()) },
      { label: "repository size", stroke: "#2f6fdf", width: 2, value: (u, v) => size(v) },
      { label: "new data", stroke: "#c0392b", width: 0, paths: () => null,
        points: { show: true, size: 8, fill: "#c0392b" }, value: (u, v) => size(v) },
      { label: "snapshot holds", stroke: "#2e7d32", width: 1, dash: [6, 4], value: (u, v) => size(v) },
    ],
    // Ticks at 1, 8, 64 and 512 of each binary unit: round sizes in the units the table uses.
    axes: [{}, { size: 70, values: (u, ticks) => ticks.map(size).map((t) => t.replace(".0 ", " ")),
      splits: (u, i, min, max) => {
        const out = [];
        for (let p = 1; p <= max * 8; p *= 8) if (p >= min && p <= max) out.push(p);
        return out;
      },
      filter: (u, splits) => splits }], // the log scale's default keeps decades only
  };
  const data = [s.t, positive(s.stored), positive(s.new), positive(s.holds)];
  const chart = new uPlot(opts, data, el);
  el.uplot = chart; // for the browser tests
  new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height: 300 })).observe(el);
  chart.over.style.cursor = "pointer";
  chart.over.addEventListener("click", () => {
    const i = chart.cursor.idx;
    if (i != null) location.href = "/s/" + encodeURIComponent(s.name[i]);
  });
})();
