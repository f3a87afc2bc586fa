// Draws every [data-series] element as a small uPlot chart, on load and after each htmx swap; removes
// what a [data-remove] button names (an action row of the rules editor).
(function () {
  function draw(root) {
    if (!window.uPlot) return;
    root.querySelectorAll("[data-series]").forEach(function (el) {
      var ys = JSON.parse(el.dataset.series);
      var xs = ys.map(function (_, i) { return i - ys.length + 1; });
      var unit = el.dataset.unit || "h";
      var line = el.dataset.kind === "line";
      el.innerHTML = "";
      new uPlot({ width: Math.max(200, el.clientWidth || 400), height: line ? 90 : 130, legend: { show: false },
        // Every figure drawn is zero or more: the axis starts at 0, and a single value still has a range.
        scales: { x: { time: false }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
        axes: [{ values: function (u, v) { return v.map(function (x) { return x + unit; }); } }, { size: 40 }],
        series: [{}, line ? { stroke: "#1f5fbf", width: 2, spanGaps: false, points: { show: true, size: 5, fill: "#1f5fbf" } }
                          : { stroke: "#1f5fbf", fill: "rgba(31,95,191,.15)", paths: uPlot.paths.bars({ size: [0.8] }) }] },
        [xs, ys], el);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-remove]");
    if (button) button.closest(button.dataset.remove).remove();
  });
})();
