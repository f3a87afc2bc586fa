// Draws every [data-series] element as a small uPlot bar/line chart, on load and after each htmx swap.
(function () {
  function draw(root) {
    if (!window.uPlot) return;
    root.querySelectorAll("[data-series]").forEach(function (el) {
      var ys = JSON.parse(el.dataset.series);
      var xs = ys.map(function (_, i) { return i - ys.length + 1; });
      el.innerHTML = "";
      new uPlot({ width: Math.max(240, el.clientWidth || 400), height: 130, legend: { show: false },
        scales: { x: { time: false } }, axes: [{ values: function (u, v) { return v.map(function (x) { return x + "h"; }); } }, {}],
        series: [{}, { stroke: "#1f5fbf", fill: "rgba(31,95,191,.15)", paths: uPlot.paths.bars({ size: [0.8] }) }] },
        [xs, ys], el);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
})();
