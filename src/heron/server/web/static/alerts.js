// The alert editor's backtest chart: the metric over time, the warning/alert thresholds (or
// the anomaly band), and the firing episodes shaded. Data comes from a JSON block; labels
// from data are escaped (Plotly reads some HTML in labels).
(function () {
  "use strict";

  function esc(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function token(name, fallback) {
    var v = window.getComputedStyle(document.documentElement).getPropertyValue(name);
    return (v && v.trim()) || fallback;
  }

  function draw() {
    var node = document.getElementById("alert-chart");
    var block = document.getElementById("alert-chart-data");
    if (!node || !block || !window.Plotly) return;
    var data = JSON.parse(block.textContent);
    var ink = token("--ink", "#1f2933");
    var accent = token("--accent", "#2563eb");
    var errorColour = token("--error", "#b91c1c");
    var warnColour = token("--warn", "#b45309");
    var traces = [];
    if (data.anomaly) {
      traces.push({ x: data.times, y: data.lower, type: "scatter", mode: "lines",
        line: { width: 0 }, hoverinfo: "skip", showlegend: false });
      traces.push({ x: data.times, y: data.upper, type: "scatter", mode: "lines",
        line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(37, 99, 235, 0.15)",
        name: "expected band" });
    }
    traces.push({ x: data.times, y: data.values, type: "scatter", mode: "lines",
      line: { color: accent }, name: esc(data.metric), connectgaps: false });
    var shapes = [];
    var c = data.condition;
    if (c) {
      if (c.warning !== undefined && c.warning !== null) {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: c.warning, y1: c.warning,
          line: { color: warnColour, dash: "dash", width: 1 } });
      }
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: c.alert, y1: c.alert,
        line: { color: errorColour, dash: "dash", width: 1 } });
    }
    data.episodes.forEach(function (e) {
      shapes.push({ type: "rect", xref: "x", yref: "paper", x0: e.start, x1: e.end, y0: 0, y1: 1,
        fillcolor: errorColour, opacity: 0.15, line: { width: 0 } });
    });
    window.Plotly.newPlot(node, traces, {
      margin: { l: 60, r: 20, t: 10, b: 40 },
      font: { color: ink },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      shapes: shapes,
      showlegend: true,
      legend: { orientation: "h" },
      xaxis: { type: "date", title: { text: "UTC" } },
      yaxis: { title: { text: esc(data.metric) } }
    }, { displaylogo: false, responsive: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
