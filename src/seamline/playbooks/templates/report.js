// Draws each report chart from its data-figure attribute (a plotly figure built by the server).
(function () {
  "use strict";
  function draw() {
    if (typeof Plotly === "undefined") return;
    for (const node of document.querySelectorAll(".report-chart[data-figure]")) {
      const figure = JSON.parse(node.dataset.figure);
      Plotly.newPlot(node, figure.data, figure.layout, {displaylogo: false, responsive: true});
    }
    document.body.dataset.reportReady = "ok";
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
