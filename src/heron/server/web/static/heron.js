// heron web UI: a little progressive enhancement; every page works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // The CSRF token of this session, for requests made from scripts (X-CSRF-Token header).
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // fetch() for state-changing requests: same-origin cookies plus the CSRF header.
  window.heron = {
    csrfToken: csrfToken,
    send: function (method, url, body) {
      var headers = { "X-CSRF-Token": csrfToken() };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      return fetch(url, {
        method: method,
        headers: headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
  };

  // The trace filter bar: add a blank condition row, remove one.
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.hasAttribute("data-add-row")) {
      var blank = target.parentNode.querySelector(".filter-row[data-blank]");
      var copy = blank.cloneNode(true);
      copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      target.parentNode.insertBefore(copy, target);
      copy.querySelector("input").focus();
    } else if (target.hasAttribute("data-remove-row")) {
      target.parentNode.remove();
    }
  });
  document.querySelectorAll("[data-add-row]").forEach(function (b) { b.hidden = false; });

  // Forms that destroy something ask first (data-confirm holds the question).
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Trace detail: following a link to an observation opens its details.
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var found = id && document.getElementById(id);
    if (found && found.tagName === "DETAILS") found.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  // The filter bar: the value field suggests values of the chosen field (a datalist each).
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (field.name !== "fc" || !field.closest(".filter-row")) return;
    var value = field.closest(".filter-row").querySelector('input[name="fv"]');
    var list = document.getElementById("values-" + field.value.trim());
    value.setAttribute("list", list ? list.id : "values-any");
  });

  // Keyboard: j/k and Enter on the trace list; j/k through that list and the arrow keys
  // through the observation tree on a trace page. Never while typing in a field.
  var LIST_KEY = "heron.traceList";
  var listRows = Array.prototype.slice.call(
    document.querySelectorAll('table[data-keys="list"] tbody tr[data-href]'));
  var treeRows = Array.prototype.slice.call(document.querySelectorAll(".waterfall .wf-row"));
  var listAt = -1;

  if (listRows.length) {
    try {
      sessionStorage.setItem(LIST_KEY, JSON.stringify({
        url: location.href,
        hrefs: listRows.map(function (r) { return r.getAttribute("data-href"); }),
      }));
    } catch (e) { /* storage unavailable: no j/k on trace pages */ }
  }

  function select(rows, at) {
    rows.forEach(function (r, i) {
      r.classList.toggle("is-selected", i === at);
      if (i === at) r.setAttribute("aria-current", "true"); else r.removeAttribute("aria-current");
    });
    if (rows[at]) rows[at].scrollIntoView({ block: "nearest" });
  }

  function stepTrace(delta) {
    var saved;
    try { saved = JSON.parse(sessionStorage.getItem(LIST_KEY) || "null"); } catch (e) { return; }
    if (!saved || !saved.hrefs) return;
    var paths = saved.hrefs.map(function (h) { return new URL(h, location.href).pathname; });
    var at = paths.indexOf(location.pathname);
    var next = at < 0 ? -1 : at + delta;
    if (next >= 0 && next < saved.hrefs.length) location.href = saved.hrefs[next];
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    if (listRows.length) {
      if (key === "j" || key === "k") {
        listAt = Math.min(Math.max(listAt + (key === "j" ? 1 : -1), 0), listRows.length - 1);
        select(listRows, listAt);
      } else if (key === "Enter" && listAt >= 0 && !(event.target.closest && event.target.closest("a, button"))) {
        location.href = listRows[listAt].getAttribute("data-href");
      } else return;
      event.preventDefault();
    } else if (treeRows.length || document.querySelector(".trace-head")) {
      if (key === "j" || key === "k") {
        stepTrace(key === "j" ? 1 : -1);
      } else return;  // the arrow keys move the selection (trace.js)
      event.preventDefault();
    }
  });

  // Trace detail: selection, panel, copy buttons and folding are in trace.js.

  // Forms marked data-autosubmit (the project switcher) submit when a choice changes.
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-autosubmit")) form.submit();
  });
})();
