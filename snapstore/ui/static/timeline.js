// The timeline chart: repository size after each snapshot, each snapshot's new data and
// what it holds (uPlot). The numbers come from the page (data-series), nothing is fetched.
(function () {
  const el = document.getElementById("chart");
  if (!el || !window.uPlot) return;
  const s = JSON.parse(el.dataset.series);
  if (!s.t.length) { el.remove(); return; }
  const opts = {
    width: el.clientWidth || 900,
    height: 300,
    series: [
      {},
      { label: "repository size (MB)", stroke: "#2f6fdf", width: 2 },
      { label: "new data (MB)", stroke: "#c0392b", width: 1, points: { show: true } },
      { label: "snapshot holds (MB)", stroke: "#2e7d32", width: 1, dash: [6, 4] },
    ],
    axes: [{}, { label: "MB" }],
  };
  new uPlot(opts, [s.t, s.stored, s.new, s.logical], el);
})();
