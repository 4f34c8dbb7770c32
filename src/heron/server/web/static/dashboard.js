// Dashboards: draws each widget from its JSON block with Plotly. Every label that comes from
// data (models, names, users, releases) is escaped first: Plotly reads some HTML in labels.
(function () {
  "use strict";

  function esc(value) {
    return String(value === null || value === undefined ? "(none)" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // Chart colours come from the CSS tokens, so a theme that redefines them applies to charts.
  function token(name, fallback) {
    var v = window.getComputedStyle(document.documentElement).getPropertyValue(name);
    return (v && v.trim()) || fallback;
  }

  var time = window.heronTime;
  function zone() { return time ? time.zone() : "UTC"; }
  // An ISO UTC time as Plotly should draw it: wall-clock text in the viewer's zone.
  function inZone(iso) { return time && iso ? time.format(iso) : iso; }

  // A number with its unit: "$1.23", "840 ms", "12.5%", "1,204 tokens".
  function withUnit(unit, value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (unit === "%") return (value * 100).toFixed(1) + "%";
    if (unit === "$") {
      var abs = Math.abs(value);
      var text = abs >= 100 ? abs.toLocaleString("en", { maximumFractionDigits: 0 })
        : abs >= 1 ? abs.toFixed(2) : abs.toPrecision(3);
      return (value < 0 ? "-$" : "$") + text;
    }
    return fmt(value) + (unit ? " " + unit : "");
  }

  // Axis settings for a unit: "$" before, "%" as a share, the rest after the number.
  function unitAxis(unit) {
    if (unit === "%") return { tickformat: ".0%" };
    if (unit === "$") return { tickprefix: "$" };
    if (unit === "ms") return { ticksuffix: " ms" };
    return {};
  }

  // One axis title for the metrics drawn against it: "Total cost ($)", "Latency (ms)".
  function valueTitle(metrics) {
    var units = metrics.map(function (m) { return m.unit; });
    var unit = units.every(function (u) { return u === units[0]; }) ? units[0] : "";
    var name = metrics.length === 1 ? metrics[0].label : commonNoun(metrics);
    // "Tokens", not "Tokens (tokens)": the unit only when the name does not say it
    var says = unit && name.toLowerCase().indexOf(unit.toLowerCase()) >= 0 && unit.length > 2;
    return unit && !says ? name + " (" + unit + ")" : name;
  }

  // What several metrics share: "Median latency", "p95 latency" → "Latency".
  function commonNoun(metrics) {
    var words = metrics.map(function (m) { return m.label.split(" "); });
    var shared = [];
    for (var i = 1; i <= words[0].length; i++) {
      var w = words[0][words[0].length - i];
      if (!words.every(function (ws) { return ws[ws.length - i] === w; })) break;
      shared.unshift(w);
    }
    if (!shared.length) return "Value";
    var text = shared.join(" ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function dimTitle(w) {
    return (w.dimension_labels || w.dimensions).join(" · ");
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

  // A metric's value as shown, with its unit.
  function show(m, value) { return withUnit(m.unit, value); }

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
          byKey[key] = { name: key, x: [], y: [], customdata: [], text: [] };
          series.push(byKey[key]);
        }
        byKey[key].x.push(inZone(row[w.time]));
        byKey[key].y.push(row[metric.key]);
        byKey[key].customdata.push(w.links[i]);
        byKey[key].text.push(show(metric, row[metric.key]));
      });
    } else {
      w.metrics.forEach(function (m) {
        series.push({
          name: esc(m.label),
          x: w.rows.map(function (r) { return inZone(r[w.time]); }),
          y: w.rows.map(function (r) { return r[m.key]; }),
          customdata: w.links,
          text: w.rows.map(function (r) { return show(m, r[m.key]); }),
        });
      });
    }
    var drawn = series.map(function (s) {
      if (kind === "bar") s.textposition = "none";
      return Object.assign({ type: kind, mode: "lines+markers", connectgaps: false,
        hovertemplate: "%{x}<br>%{fullData.name}: %{text}<extra></extra>" }, s, extra);
    });
    return bandTraces(w).concat(drawn);
  }

  // An anomaly alert's expected band on the chart of its metric: the upper edge, then the
  // lower one filled up to it.
  function bandTraces(w) {
    var out = [];
    var colour = token("--muted", "#888");
    (w.bands || []).forEach(function (b) {
      var x = b.x.map(inZone);
      var label = "expected (alert " + esc(b.alert) + ")";
      out.push({ type: "scatter", mode: "lines", x: x, y: b.upper, name: label,
                 line: { width: 0, color: colour }, showlegend: false, hoverinfo: "skip" });
      out.push({ type: "scatter", mode: "lines", x: x, y: b.lower, name: label,
                 fill: "tonexty", fillcolor: "rgba(128,128,128,0.18)",
                 line: { width: 0, color: colour }, hoverinfo: "skip" });
    });
    return out;
  }

  function changeMarks(w) {
    var shapes = [], notes = [];
    var colour = token("--warn", "#7a5400");
    (w.changes || []).forEach(function (c) {
      var at = inZone(c.at);
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: at, x1: at, y0: 0, y1: 1,
                    line: { color: colour, width: 1, dash: "dot" } });
      notes.push({ x: at, xref: "x", y: 1, yref: "paper", yanchor: "top", xanchor: "left",
                   text: esc(c.label), showarrow: false, font: { size: 10, color: colour } });
    });
    return { shapes: shapes, annotations: notes };
  }

  function barTraces(w) {
    var labels = w.rows.map(function (r) { return dimLabel(w, r); });
    return w.metrics.map(function (m) {
      return { type: "bar", name: esc(m.label), x: labels,
               y: w.rows.map(function (r) { return r[m.key]; }), customdata: w.links,
               text: w.rows.map(function (r) { return show(m, r[m.key]); }), textposition: "none",
               hovertemplate: "%{x}<br>%{fullData.name}: %{text}<extra></extra>" };
    });
  }

  function pieTraces(w) {
    var m = w.metrics[0];
    return [{ type: "pie", labels: w.rows.map(function (r) { return dimLabel(w, r); }),
              values: w.rows.map(function (r) { return r[m.key]; }), customdata: w.links,
              text: w.rows.map(function (r) { return show(m, r[m.key]); }),
              hovertemplate: "%{label}: %{text} (%{percent})<extra></extra>",
              textinfo: "label+percent", hole: 0.4 }];
  }

  function histogramTraces(w) {
    var m = w.metrics[0];
    var bins = (w.rows[0] && w.rows[0][m.key]) || [];
    return [{ type: "bar", name: esc(m.label),
              x: bins.map(function (b) { return (b[0] + b[1]) / 2; }),
              width: bins.map(function (b) { return (b[1] - b[0]) || 1; }),
              y: bins.map(function (b) { return b[2]; }),
              text: bins.map(function (b) { return show(m, b[0]) + " – " + show(m, b[1]); }),
              textposition: "none", hovertemplate: "%{text}: %{y}<extra></extra>",
              customdata: w.bin_links && w.bin_links.length ? w.bin_links : null }];
  }

  function drawNumber(w, box) {
    var m = w.metrics[0];
    var now = w.rows[0] ? w.rows[0][m.key] : null;
    var before = w.previous && w.previous[0] ? w.previous[0][m.key] : null;
    var big = document.createElement("a");
    big.className = "number-value";
    big.textContent = show(m, now);
    big.href = w.links[0] || "#";
    box.appendChild(big);
    var change = document.createElement("p");
    change.className = "number-change";
    if (before === null || before === undefined || before === 0 || now === null) {
      change.textContent = "previous period: " + show(m, before);
    } else {
      var pct = ((now - before) / Math.abs(before)) * 100;
      change.textContent = (pct >= 0 ? "▲ " : "▼ ") + Math.abs(pct).toFixed(1) +
        "% vs previous period (" + show(m, before) + ")";
      change.classList.add(pct >= 0 ? "up" : "down");
      // good or bad for this metric: up is good for higher-is-better, bad for cost/latency
      var sign = pct === 0 ? 0 : (pct > 0 ? 1 : -1) * (m.polarity || 0);
      change.classList.add(sign > 0 ? "good" : sign < 0 ? "bad" : "neutral");
      change.setAttribute("data-polarity", sign > 0 ? "good" : sign < 0 ? "bad" : "neutral");
    }
    box.appendChild(change);
  }

  function drawTable(w, box) {
    var table = document.createElement("table");
    table.className = "pivot";
    var head = table.createTHead().insertRow();
    var columns = (w.time ? [w.time] : []).concat(w.dimensions);
    var titles = (w.time ? ["Time (" + zone() + ")"] : [])
      .concat(w.dimension_labels || w.dimensions)
      .concat(w.metrics.map(function (m) { return m.unit ? m.label + " (" + m.unit + ")" : m.label; }));
    titles.forEach(function (c) {
      var th = document.createElement("th");
      th.textContent = c;
      head.appendChild(th);
    });
    function cellText(c, value) {
      if (value === null) return "(none)";
      return c === w.time ? inZone(value) : String(value);
    }
    var body = table.createTBody();
    w.rows.forEach(function (row, i) {
      var tr = body.insertRow();
      columns.forEach(function (c, j) {
        var td = tr.insertCell();
        if (j === 0 && w.links[i]) {
          var a = document.createElement("a");
          a.href = w.links[i];
          a.textContent = cellText(c, row[c]);
          td.appendChild(a);
        } else {
          td.textContent = cellText(c, row[c]);
        }
      });
      w.metrics.forEach(function (m) {
        var td = tr.insertCell();
        td.className = "num";
        td.textContent = show(m, row[m.key]);
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
      var r = keys[0] === w.time ? inZone(row[keys[0]]) : String(row[keys[0]]);
      var c = String(row[keys[1]]);
      if (rowKeys.indexOf(r) < 0) rowKeys.push(r);
      if (colKeys.indexOf(c) < 0) colKeys.push(c);
      cells[r + "\u0000" + c] = { value: row[m.key], link: w.links[i] };
    });
    var table = document.createElement("table");
    table.className = "pivot";
    var head = table.createTHead().insertRow();
    var labels = w.dimension_labels || w.dimensions;
    var corner = keys[0] === w.time ? "Time (" + zone() + ")" : labels[0];
    [corner].concat(colKeys).forEach(function (c) {
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
        a.textContent = show(m, cell.value);
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
    var ink = token("--ink", "#1d2330"), muted = token("--muted", "#5f6b7a");
    var line = token("--line", "#d9dee5"), surface = token("--surface", "#fff");
    var axis = { automargin: true, gridcolor: line, linecolor: line, zerolinecolor: line,
                 tickfont: { color: muted }, title: { font: { color: ink, size: 12 } } };
    function ax(extra) { return Object.assign({}, axis, extra, { title: Object.assign({}, axis.title, extra.title) }); }
    // The legend sits above the plot, right-aligned: time labels below never meet it.
    var data, layout = { margin: { t: 32, r: 16, b: 16, l: 16 }, height: 300,
                         paper_bgcolor: surface, plot_bgcolor: surface,
                         font: { color: ink }, colorway: [token("--accent", "#1f6f8b"),
                           "#e07b39", "#6a4c93", "#2a9d8f", "#c44569", "#8d6e63", "#577590"],
                         showlegend: w.metrics.length > 1 || w.dimensions.length > 0,
                         legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02,
                                   yanchor: "bottom", traceorder: "normal",
                                   font: { color: ink } },
                         barmode: "group" };
    if (w.time) {
      data = timeTraces(w);
      Object.assign(layout, changeMarks(w));
      layout.xaxis = ax({ type: "date", title: { text: "Time (" + zone() + ")" } });
      var shown = w.dimensions.length ? [w.metrics[0]] : w.metrics;
      layout.yaxis = ax(Object.assign({ title: { text: valueTitle(shown) }, rangemode: "tozero" },
                                      unitAxis(shown[0].unit)));
    } else if (w.type === "pie") {
      data = pieTraces(w);
      layout.showlegend = true;
      layout.legend = { font: { color: ink } };
    } else if (w.type === "histogram") {
      data = histogramTraces(w);
      layout.showlegend = false;
      layout.bargap = 0.02;
      var hm = w.metrics[0];
      layout.xaxis = ax(Object.assign({ title: { text: valueTitle([hm]) } }, unitAxis(hm.unit)));
      layout.yaxis = ax({ title: { text: "Number of records" } });
    } else {
      data = barTraces(w);
      layout.xaxis = ax({ type: "category", title: { text: dimTitle(w) } });
      layout.yaxis = ax(Object.assign({ title: { text: valueTitle(w.metrics) } },
                                      unitAxis(w.metrics[0].unit)));
    }
    if (w.type !== "pie") layout.showlegend = data.length > 1; // one series: the title says it
    window.Plotly.newPlot(box, data, layout, { displaylogo: false, responsive: true });
    box.on("plotly_click", function (event) {
      var point = event.points && event.points[0];
      if (point) open(point.customdata);
    });
  }

  var plots = [];
  function drawAll() {
    plots = [];
    document.querySelectorAll("script[data-widget]").forEach(function (block) {
      var w = JSON.parse(block.textContent);
      var box = block.parentNode.querySelector("[data-chart]");
      if (!box) return;
      if (box.classList.contains("js-plotly-plot")) window.Plotly.purge(box);
      while (box.firstChild) box.removeChild(box.firstChild);
      try {
        draw(w, box);
        if (box.classList.contains("js-plotly-plot")) plots.push(box);
        box.setAttribute("data-drawn", w.type);
        box.setAttribute("data-zone", zone());
      } catch (err) {
        box.textContent = "This chart could not be drawn: " + err.message;
      }
    });
    // Charts drawn before the page reached its final width (a scroll bar appearing) refit.
    window.requestAnimationFrame(function () {
      plots.forEach(function (box) { window.Plotly.Plots.resize(box); });
    });
  }
  drawAll();
  // The viewer picked another time zone in the header: times on the charts follow.
  document.addEventListener("heron:timezone", drawAll);
  // A theme following the system (light/dark) redefines the tokens: redraw in its colours.
  if (window.matchMedia) {
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme.addEventListener) scheme.addEventListener("change", drawAll);
  }
})();
