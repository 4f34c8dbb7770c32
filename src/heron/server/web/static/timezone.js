// Times in the viewer's time zone. The server writes every time in UTC inside
// <time datetime="...Z">; this rewrites them in the chosen zone (the browser's by default,
// switchable in the header, remembered in localStorage) and names the zone. Times in table
// cells (list columns) read "3 min ago", with the absolute time on hover. URLs stay UTC.
(function () {
  "use strict";
  var KEY = "heron.tz";
  var COMMON = ["UTC", "America/Los_Angeles", "America/Denver", "America/Chicago",
    "America/New_York", "America/Sao_Paulo", "Europe/London", "Europe/Paris", "Europe/Berlin",
    "Europe/Moscow", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore",
    "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland"];

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }
    catch (e) { return "UTC"; }
  }

  function valid(zone) {
    try { new Intl.DateTimeFormat("en", { timeZone: zone }); return true; }
    catch (e) { return false; }
  }

  function stored() {
    try { return window.localStorage.getItem(KEY) || "auto"; } catch (e) { return "auto"; }
  }

  // The zone in use: the stored choice, or the browser's ("auto").
  function zone() {
    var choice = stored();
    return choice !== "auto" && valid(choice) ? choice : browserZone();
  }

  var formatters = {};
  function parts(date, tz) {
    var f = formatters[tz] || (formatters[tz] = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", second: "2-digit", hourCycle: "h23" }));
    var out = {};
    f.formatToParts(date).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }

  // "2025-10-09 08:32:38" (optionally ".123") in the zone: sortable, like the UTC text.
  function local(date, tz, ms) {
    var p = parts(date, tz);
    var text = p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
    if (ms) text += "." + String(date.getUTCMilliseconds()).padStart(3, "0");
    return text;
  }

  // Short name of the zone at a moment: "CEST", "GMT+2", "UTC".
  function abbreviation(date, tz) {
    try {
      var p = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "short" })
        .formatToParts(date).filter(function (x) { return x.type === "timeZoneName"; })[0];
      return p ? p.value : tz;
    } catch (e) { return tz; }
  }

  function relative(date, now) {
    var seconds = Math.round((now - date) / 1000);
    var future = seconds < 0;
    var s = Math.abs(seconds);
    var text;
    if (s < 45) return future ? "in a few seconds" : "just now";
    if (s < 3600) text = Math.round(s / 60) + " min";
    else if (s < 86400) text = Math.round(s / 3600) + " h";
    else if (s < 86400 * 30) text = Math.round(s / 86400) + " d";
    else return null; // older than a month: the date says more
    return future ? "in " + text : text + " ago";
  }

  window.heronTime = {
    zone: zone,
    local: local,
    abbreviation: abbreviation,
    // An ISO UTC text as "YYYY-MM-DD HH:MM:SS" in the zone (for charts).
    format: function (iso) {
      var d = new Date(iso);
      return isNaN(d) ? iso : local(d, zone(), false);
    },
  };

  function render() {
    var tz = zone();
    var now = Date.now();
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      var absolute = local(d, tz, el.hasAttribute("data-ms")) + " " + abbreviation(d, tz);
      var rel = el.closest("td, [data-relative]") ? relative(d, now) : null;
      el.textContent = rel || absolute;
      el.title = rel ? absolute + " (" + tz + ")" : tz;
      el.setAttribute("data-zone", tz);
    });
    document.querySelectorAll("[data-tz-name]").forEach(function (el) { el.textContent = tz; });
  }

  function setUpSelect() {
    var select = document.querySelector("select[data-tz-select]");
    if (!select) return;
    var mine = browserZone();
    while (select.firstChild) select.removeChild(select.firstChild);
    var auto = document.createElement("option");
    auto.value = "auto";
    auto.textContent = "Browser (" + mine + ")";
    select.appendChild(auto);
    var choice = stored();
    var zones = COMMON.slice();
    if (choice !== "auto" && zones.indexOf(choice) < 0 && valid(choice)) zones.push(choice);
    zones.forEach(function (z) {
      var o = document.createElement("option");
      o.value = z;
      o.textContent = z;
      select.appendChild(o);
    });
    select.value = choice !== "auto" && valid(choice) ? choice : "auto";
    select.addEventListener("change", function () {
      try { window.localStorage.setItem(KEY, select.value); } catch (e) { /* private mode */ }
      render();
      document.dispatchEvent(new CustomEvent("heron:timezone", { detail: { zone: zone() } }));
    });
  }

  function start() {
    setUpSelect();
    render();
    window.setInterval(render, 60000); // "3 min ago" keeps true on an open page
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
