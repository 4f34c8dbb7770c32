// Dashboards: draws each widget from its JSON block with Plotly. Every label that comes from
// data (models, names, users, releases) is escaped first: Plotly reads some HTML in labels.
(function () {
  "use strict";

  function esc(value) {
    return String(value === null || value === undefined ? "(none)" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function dimLabel(w, row) {
    if (!w.dimensions.length) return "all";
    return w.dimensions.map(function (d) { return esc(row[d]); }).join(" · ");
  }

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return value.toLocaleString("en");
    return value.toLocaleString("en", { maximumSignificantDigits: 4 });
  }

  // A metric's value as shown: shares (error rates) as percentages.
  function show(key, value) {
    if (/error_rate$/.test(key) && typeof value === "number") {
      return (value * 100).toFixed(1) + "%";
    }
    return fmt(value);
  }

  function open(link) { if (link) window.location.href = link; }

  // Time series: one line per metric, or per dimension value (first metric) when grouped.
  function timeTraces(w) {
    var kind = w.type === "bar_time" ? "bar" : "scatter";
    var extra = w.type === "area" ? { fill: "tonexty", stackgroup: "one" } : {};
    var series = [];
    if (w.dimensions.length) {
      var byKey = {};
      var metric = w.metrics[0];
      w.rows.forEach(function (row, i) {
        var key = dimLabel(w, row);
        if (!byKey[key]) {
          byKey[key] = { name: key, x: [], y: [], customdata: [] };
          series.push(byKey[key]);
        }
        byKey[key].x.push(row[w.time]);
        byKey[key].y.push(row[metric.key]);
        byKey[key].customdata.push(w.links[i]);
      });
    } else {
      w.metrics.forEach(function (m) {
        series.push({
          name: esc(m.label),
          x: w.rows.map(function (r) { return r[w.time]; }),
          y: w.rows.map(function (r) { return r[m.key]; }),
          customdata: w.links,
        });
      });
    }
    return series.map(function (s) {
      return Object.assign({ type: kind, mode: "lines+markers", connectgaps: false }, s, extra);
    });
  }

  function changeMarks(w) {
    var shapes = [], notes = [];
    (w.changes || []).forEach(function (c) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: c.at, x1: c.at, y0: 0, y1: 1,
                    line: { color: "#b45309", width: 1, dash: "dot" } });
      notes.push({ x: c.at, xref: "x", y: 1, yref: "paper", yanchor: "bottom",
                   text: esc(c.label), showarrow: false, font: { size: 10, color: "#b45309" } });
    });
    return { shapes: shapes, annotations: notes };
  }

  function barTraces(w) {
    var labels = w.rows.map(function (r) { return dimLabel(w, r); });
    return w.metrics.map(function (m) {
      return { type: "bar", name: esc(m.label), x: labels,
               y: w.rows.map(function (r) { return r[m.key]; }), customdata: w.links };
    });
  }

  function pieTraces(w) {
    var m = w.metrics[0];
    return [{ type: "pie", labels: w.rows.map(function (r) { return dimLabel(w, r); }),
              values: w.rows.map(function (r) { return r[m.key]; }), customdata: w.links,
              textinfo: "label+percent", hole: 0.4 }];
  }

  function histogramTraces(w) {
    var m = w.metrics[0];
    var bins = (w.rows[0] && w.rows[0][m.key]) || [];
    return [{ type: "bar", name: esc(m.label),
              x: bins.map(function (b) { return (b[0] + b[1]) / 2; }),
              width: bins.map(function (b) { return (b[1] - b[0]) || 1; }),
              y: bins.map(function (b) { return b[2]; }),
              text: bins.map(function (b) { return fmt(b[0]) + " – " + fmt(b[1]); }),
              textposition: "none", hovertemplate: "%{text}: %{y}<extra></extra>",
              customdata: w.bin_links && w.bin_links.length ? w.bin_links : null }];
  }

  function drawNumber(w, box) {
    var m = w.metrics[0];
    var now = w.rows[0] ? w.rows[0][m.key] : null;
    var before = w.previous && w.previous[0] ? w.previous[0][m.key] : null;
    var big = document.createElement("a");
    big.className = "number-value";
    big.textContent = show(m.key, now);
    big.href = w.links[0] || "#";
    box.appendChild(big);
    var change = document.createElement("p");
    change.className = "number-change";
    if (before === null || before === undefined || before === 0 || now === null) {
      change.textContent = "previous period: " + show(m.key, before);
    } else {
      var pct = ((now - before) / Math.abs(before)) * 100;
      change.textContent = (pct >= 0 ? "▲ " : "▼ ") + Math.abs(pct).toFixed(1) +
        "% vs previous period (" + show(m.key, before) + ")";
      change.classList.add(pct >= 0 ? "up" : "down");
    }
    box.appendChild(change);
  }

  function drawTable(w, box) {
    var table = document.createElement("table");
    table.className = "pivot";
    var head = table.createTHead().insertRow();
    var columns = (w.time ? [w.time] : []).concat(w.dimensions);
    columns.concat(w.metrics.map(function (m) { return m.label; })).forEach(function (c) {
      var th = document.createElement("th");
      th.textContent = c === w.time ? "time (UTC)" : c;
      head.appendChild(th);
    });
    var body = table.createTBody();
    w.rows.forEach(function (row, i) {
      var tr = body.insertRow();
      columns.forEach(function (c, j) {
        var td = tr.insertCell();
        if (j === 0 && w.links[i]) {
          var a = document.createElement("a");
          a.href = w.links[i];
          a.textContent = row[c] === null ? "(none)" : String(row[c]);
          td.appendChild(a);
        } else {
          td.textContent = row[c] === null ? "(none)" : String(row[c]);
        }
      });
      w.metrics.forEach(function (m) {
        var td = tr.insertCell();
        td.className = "num";
        td.textContent = show(m.key, row[m.key]);
      });
    });
    box.appendChild(table);
  }

  // Two keys (time or a dimension, then a dimension): rows by the first, columns by the
  // second, cells the first metric, each linking its traces.
  function drawPivot(w, box) {
    var keys = (w.time ? [w.time] : []).concat(w.dimensions);
    var m = w.metrics[0];
    var rowKeys = [], colKeys = [], cells = {};
    w.rows.forEach(function (row, i) {
      var r = String(row[keys[0]]), c = String(row[keys[1]]);
      if (rowKeys.indexOf(r) < 0) rowKeys.push(r);
      if (colKeys.indexOf(c) < 0) colKeys.push(c);
      cells[r + "\u0000" + c] = { value: row[m.key], link: w.links[i] };
    });
    var table = document.createElement("table");
    table.className = "pivot";
    var head = table.createTHead().insertRow();
    [keys[0] === w.time ? "time (UTC)" : keys[0]].concat(colKeys).forEach(function (c) {
      var th = document.createElement("th");
      th.textContent = c === "null" ? "(none)" : c;
      head.appendChild(th);
    });
    var body = table.createTBody();
    rowKeys.forEach(function (r) {
      var tr = body.insertRow();
      var th = document.createElement("th");
      th.textContent = r === "null" ? "(none)" : r;
      tr.appendChild(th);
      colKeys.forEach(function (c) {
        var td = tr.insertCell();
        td.className = "num";
        var cell = cells[r + "\u0000" + c];
        if (!cell) return;
        var a = document.createElement("a");
        a.href = cell.link;
        a.textContent = show(m.key, cell.value);
        td.appendChild(a);
      });
    });
    box.appendChild(table);
  }

  function draw(w, box) {
    if (w.type === "number") return drawNumber(w, box);
    if (w.type === "pivot") {
      var keyCount = (w.time ? 1 : 0) + w.dimensions.length;
      return keyCount === 2 ? drawPivot(w, box) : drawTable(w, box);
    }
    var data, layout = { margin: { t: 24, r: 16, b: 48, l: 56 }, height: 280,
                         showlegend: true, legend: { orientation: "h" }, barmode: "group" };
    if (w.time) {
      data = timeTraces(w);
      Object.assign(layout, changeMarks(w));
      layout.xaxis = { type: "date" };
    } else if (w.type === "pie") {
      data = pieTraces(w);
    } else if (w.type === "histogram") {
      data = histogramTraces(w);
      layout.showlegend = false;
      layout.bargap = 0.02;
    } else {
      data = barTraces(w);
      layout.xaxis = { type: "category", automargin: true };
    }
    window.Plotly.newPlot(box, data, layout, { displaylogo: false, responsive: true });
    box.on("plotly_click", function (event) {
      var point = event.points && event.points[0];
      if (point) open(point.customdata);
    });
  }

  var plots = [];
  document.querySelectorAll("script[data-widget]").forEach(function (block) {
    var w = JSON.parse(block.textContent);
    var box = block.parentNode.querySelector("[data-chart]");
    if (!box) return;
    try {
      draw(w, box);
      if (box.classList.contains("js-plotly-plot")) plots.push(box);
      box.setAttribute("data-drawn", w.type);
    } catch (err) {
      box.textContent = "This chart could not be drawn: " + err.message;
    }
  });
  // Charts drawn before the page reached its final width (a scroll bar appearing) refit.
  window.requestAnimationFrame(function () {
    plots.forEach(function (box) { window.Plotly.Plots.resize(box); });
  });
})();
