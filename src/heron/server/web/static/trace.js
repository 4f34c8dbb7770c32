// heron trace page: the selected observation in the side panel, kept in the URL
// (?observation=<id>), moved by clicks and the arrow keys without reloading the page; Copy
// buttons and "show all" for folded system prompts. The page works without it (links).
(function () {
  "use strict";
  var tree = document.querySelector(".waterfall[data-panel-url]");
  var panel = document.getElementById("trace-panel");

  // ---- payload widgets (also on panels fetched later) -----------------------------------
  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function enhance(root) {
    root.querySelectorAll("[data-copy]").forEach(function (b) { b.hidden = false; });
    root.querySelectorAll("[data-fold]").forEach(function (text) {
      var toggle = text.nextElementSibling;
      if (toggle && toggle.hasAttribute("data-fold-toggle")) toggle.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.hasAttribute("data-copy")) {
      var box = target.closest(".payload");
      var source = box.querySelector("[data-copy-source]");
      var text = source.value;
      var done = function () { target.textContent = "Copied"; };
      var fallback = function () {
        var body = box.querySelector(".payload-body");
        selectText(body);
        try { if (document.execCommand("copy")) { done(); return; } } catch (e) { /* none */ }
        target.textContent = "Selected: press Ctrl+C";
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, fallback);
      } else {
        fallback();
      }
    } else if (target.hasAttribute("data-fold-toggle")) {
      var folded = target.previousElementSibling;
      var open = folded.classList.toggle("is-folded");
      target.textContent = open ? "show all" : "show less";
    }
  });

  if (panel) enhance(panel);
  if (!tree || !panel) return;

  // ---- selection ----------------------------------------------------------------------
  var rows = Array.prototype.slice.call(tree.querySelectorAll(".wf-row"));
  var panelUrl = tree.getAttribute("data-panel-url");
  var traceUrl = tree.getAttribute("data-trace-url");
  var pending = null;

  function indexOf(id) {
    for (var i = 0; i < rows.length; i++) if (rows[i].getAttribute("data-id") === id) return i;
    return -1;
  }

  function current() {
    return new URLSearchParams(location.search).get("observation") || "";
  }

  function mark(at) {
    rows.forEach(function (r, i) {
      r.classList.toggle("is-selected", i === at);
      if (i === at) r.setAttribute("aria-current", "true"); else r.removeAttribute("aria-current");
    });
    if (rows[at]) rows[at].scrollIntoView({ block: "nearest" });
  }

  function show(id, push) {
    var at = indexOf(id);
    if (at < 0) return;
    mark(at);
    var url = traceUrl + (id ? "&observation=" + encodeURIComponent(id) : "");
    if (push) history.pushState({ observation: id }, "", url);
    var asked = panelUrl + (id ? "&observation=" + encodeURIComponent(id) : "");
    pending = asked;
    panel.setAttribute("aria-busy", "true");
    fetch(asked, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (html) {
      if (pending !== asked) return;  // a later selection won
      // The fragment is server-rendered with every value escaped (Jinja autoescape).
      var doc = new DOMParser().parseFromString(html, "text/html");
      var inner = doc.querySelector(".trace-panel-inner");
      if (inner) {
        panel.replaceChildren(document.importNode(inner, true));
        enhance(panel);
      }
      panel.removeAttribute("aria-busy");
    }).catch(function () {
      if (pending === asked) location.href = url;  // fall back to loading the page
    });
  }

  tree.addEventListener("click", function (event) {
    var link = event.target.closest("a.wf-name");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    show(link.closest(".wf-row").getAttribute("data-id"), true);
  });

  window.addEventListener("popstate", function () { show(current(), false); });

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var at = indexOf(current());
    var next = Math.min(Math.max(at + (event.key === "ArrowDown" ? 1 : -1), 0), rows.length - 1);
    event.preventDefault();
    if (next !== at) show(rows[next].getAttribute("data-id"), true);
  });

  var start = indexOf(current());
  if (start >= 0) rows[start].scrollIntoView({ block: "nearest" });
})();
