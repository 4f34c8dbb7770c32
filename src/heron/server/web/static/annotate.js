// heron annotator view: one queue item at a time, scored by keyboard. Moving on never
// reloads the page: the server answers each step (submit, skip, undo, j/k) with the next
// item's payload (its HTML rendered and escaped on the server, the annotator's values and
// note, the progress). Keys: digits and y/n set the focused config, Tab and the arrows move
// between configs, Enter submits, s skips, u undoes, j/k move between items, ? shows them.
(function () {
  "use strict";
  var root = document.querySelector("[data-annotate]");
  if (!root) return;
  var api = root.getAttribute("data-api");
  var project = root.getAttribute("data-project");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var boot = JSON.parse(document.getElementById("ann-boot").textContent);
  var objectBox = document.getElementById("ann-object");
  var form = document.getElementById("ann-form");
  var note = document.getElementById("ann-note");
  var message = document.getElementById("ann-message");
  var statusLine = document.getElementById("ann-status");
  var help = document.getElementById("ann-help");
  var configs = Array.prototype.slice.call(form.querySelectorAll(".ann-config"));
  var current = null;    // the payload shown
  var values = {};       // config id -> value (booleans and categories; inputs hold the rest)
  var submitted = [];    // item ids submitted on this page, newest last (for u)
  var busy = false;
  var digits = "";
  var digitTimer = null;
  // Time from a key to the next item drawn, for bench/annotate.py (newest last).
  window.heronAnnotateTimings = [];

  function say(text, isError) {
    message.textContent = text || "";
    message.classList.toggle("is-error", !!isError);
  }

  function focusTarget(fieldset) {
    return fieldset.hasAttribute("data-focus") ? fieldset : fieldset.querySelector("[data-focus]");
  }

  function focusConfig(i) {
    if (!configs.length) { note.focus(); return; }
    i = Math.max(0, Math.min(i, configs.length - 1));
    focusTarget(configs[i]).focus();
  }

  function configIndex(node) {
    var fieldset = node && node.closest ? node.closest(".ann-config") : null;
    return fieldset ? configs.indexOf(fieldset) : -1;
  }

  function showChoice(fieldset) {
    var id = fieldset.getAttribute("data-config");
    fieldset.querySelectorAll("button[data-value]").forEach(function (b) {
      var v = b.getAttribute("data-value");
      var chosen = values.hasOwnProperty(id) && String(values[id]) === v;
      b.setAttribute("aria-pressed", chosen ? "true" : "false");
    });
  }

  function setValue(fieldset, value, advance) {
    var id = fieldset.getAttribute("data-config");
    if (values[id] === value) delete values[id]; else values[id] = value;  // again: clears
    showChoice(fieldset);
    if (advance) focusConfig(configs.indexOf(fieldset) + 1);
  }

  function fillForm(payload) {
    values = {};
    configs.forEach(function (fieldset) {
      var id = fieldset.getAttribute("data-config");
      var type = fieldset.getAttribute("data-type");
      var stored = payload.values ? payload.values[id] : undefined;
      var input = fieldset.querySelector("[data-input]");
      if (input) {
        input.value = stored === undefined || stored === null ? "" : String(stored);
      } else if (stored !== undefined && stored !== null) {
        values[id] = type === "BOOLEAN" ? !!stored : stored;
      }
      showChoice(fieldset);
    });
    note.value = payload.note || "";
  }

  function enhance(box) {
    box.querySelectorAll("[data-copy]").forEach(function (b) { b.hidden = false; });
    box.querySelectorAll("[data-fold]").forEach(function (text) {
      var toggle = text.nextElementSibling;
      if (toggle && toggle.hasAttribute("data-fold-toggle")) toggle.hidden = false;
    });
  }

  function render(payload, started) {
    current = payload;
    var p = payload.progress || {};
    form.querySelector("[data-progress-done]").textContent = p.completed;
    form.querySelector("[data-progress-total]").textContent = p.total;
    form.querySelector("[data-progress-mine]").textContent = p.mine;
    var item = payload.item;
    objectBox.classList.remove("is-loading");
    if (item) {
      objectBox.innerHTML = payload.html;  // rendered and escaped by the server's templates
      objectBox.setAttribute("data-item-id", item.id);
      enhance(objectBox);
      statusLine.textContent = item.annotatedByMe
        ? "You annotated this item: your values are filled in; Enter saves changes."
        : item.status === "COMPLETED" ? "This item is completed." : "";
      var url = new URL(location.href);
      url.searchParams.set("item", item.id);
      history.replaceState(null, "", url.toString());
    } else {
      objectBox.textContent = "";
      var p2 = document.createElement("p");
      p2.className = "hint";
      p2.textContent = payload.message || "Nothing left to annotate.";
      objectBox.appendChild(p2);
      objectBox.setAttribute("data-item-id", "");
      statusLine.textContent = "";
    }
    fillForm(payload);
    say(item ? payload.message : "", false);
    focusConfig(0);
    if (started !== undefined) {
      window.heronAnnotateTimings.push(performance.now() - started);
    }
  }

  function post(path, body) {
    var url = api + path + "?project=" + encodeURIComponent(project);
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (data) {
        if (r.ok && data) return data;
        var text = data && data.error && data.error.message;
        if (!text) text = r.status === 403 ? "Your role in this project cannot annotate." : "The server answered " + r.status + ".";
        throw new Error(text);
      });
    });
  }

  function step(path, body, after) {
    if (busy) return;
    busy = true;
    var started = performance.now();
    objectBox.classList.add("is-loading");
    post(path, body).then(function (payload) {
      if (after) after(payload);
      render(payload, started);
    }).catch(function (err) {
      objectBox.classList.remove("is-loading");
      say(err.message, true);
    }).then(function () { busy = false; });
  }

  function collect() {
    var out = {};
    configs.forEach(function (fieldset) {
      var id = fieldset.getAttribute("data-config");
      var type = fieldset.getAttribute("data-type");
      var input = fieldset.querySelector("[data-input]");
      if (input) {
        var raw = input.value.trim();
        if (raw === "") return;
        out[id] = type === "NUMERIC" ? Number(raw) : input.value;
      } else if (values.hasOwnProperty(id)) {
        out[id] = values[id];
      }
    });
    return out;
  }

  function submit() {
    if (!current || !current.item) return;
    var id = current.item.id;
    step("/submit", { itemId: id, values: collect(), note: note.value }, function () {
      submitted.push(id);
    });
  }

  function skip() {
    if (current && current.item) step("/skip", { itemId: current.item.id });
  }

  function undo() {
    var id = submitted.pop();
    if (!id) { say("Nothing to undo on this page.", false); return; }
    step("/undo", { itemId: id });
  }

  function move(delta) {
    if (current && current.item) {
      step("/open", { from: current.item.position, step: delta });
    } else if (delta > 0) {
      step("/next", {});
    }
  }

  function digit(fieldset, d) {
    var type = fieldset.getAttribute("data-type");
    if (type === "BOOLEAN") {
      if (d === "1" || d === "0") setValue(fieldset, d === "1", true);
      return;
    }
    var buttons = fieldset.querySelectorAll("button[data-value]");
    // Up to 9 categories take one digit; more take two typed quickly (1 then 2: the 12th).
    digits = buttons.length > 9 ? digits + d : d;
    clearTimeout(digitTimer);
    var choose = function () {
      var n = parseInt(digits, 10);
      digits = "";
      if (n >= 1 && n <= buttons.length) {
        setValue(fieldset, buttons[n - 1].getAttribute("data-value"), true);
      }
    };
    if (buttons.length > 9 && digits.length < 2) digitTimer = setTimeout(choose, 700);
    else choose();
  }

  function yesNo(fieldset, yes) {
    if (!fieldset || fieldset.getAttribute("data-type") !== "BOOLEAN") {
      fieldset = configs.filter(function (f) { return f.getAttribute("data-type") === "BOOLEAN"; })[0];
    }
    if (fieldset) setValue(fieldset, yes, true);
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
  form.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    var fieldset = button.closest(".ann-config");
    if (fieldset && button.hasAttribute("data-value")) {
      var v = button.getAttribute("data-value");
      setValue(fieldset, fieldset.getAttribute("data-type") === "BOOLEAN" ? v === "true" : v, false);
      return;
    }
    var action = button.getAttribute("data-action");
    if (action === "skip") skip();
    else if (action === "undo") undo();
    else if (action === "prev") move(-1);
    else if (action === "next") move(1);
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var t = event.target;
    var key = event.key;
    var typing = t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT";
    if (key === "Enter") {
      if (t.tagName === "TEXTAREA" && event.shiftKey) return;  // a new line
      if (t.tagName === "A") return;
      event.preventDefault();
      submit();
      return;
    }
    if (key === "Escape") {
      if (!help.hidden) help.hidden = true;
      else if (typing && configIndex(t) >= 0) focusTarget(configs[configIndex(t)]).blur();
      else if (typing) t.blur();
      return;
    }
    if (typing) {
      if (t.type === "number" && (key === "ArrowDown" || key === "ArrowUp")) {
        event.preventDefault();
        focusConfig(configIndex(t) + (key === "ArrowDown" ? 1 : -1));
        return;
      }
      // A number field holds no letters: the command keys still work from it.
      if (t.type !== "number" || !/^[sujkyn?]$/.test(key)) return;
    }
    var at = configIndex(t);
    var fieldset = at >= 0 ? configs[at] : null;
    if (key === "?") { help.hidden = !help.hidden; }
    else if (/^[0-9]$/.test(key)) { if (fieldset) digit(fieldset, key); else if (configs.length) digit(configs[0], key); }
    else if (key === "y" || key === "n") yesNo(fieldset, key === "y");
    else if (key === "s") skip();
    else if (key === "u") undo();
    else if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "ArrowDown" || key === "ArrowRight") focusConfig(at + 1);
    else if (key === "ArrowUp" || key === "ArrowLeft") focusConfig(at < 0 ? 0 : at - 1);
    else return;
    event.preventDefault();
  });

  // Leaving the page gives the item back at once instead of when its lease ends.
  window.addEventListener("pagehide", function () {
    if (!current || !current.item || !navigator.sendBeacon) return;
    var data = new FormData();
    data.append("csrf_token", csrf);
    data.append("itemId", current.item.id);
    navigator.sendBeacon(api + "/release?project=" + encodeURIComponent(project), data);
  });

  current = boot.first;
  fillForm(current);
  enhance(objectBox);
  if (current.item) say(current.message, false);
  focusConfig(0);
})();
