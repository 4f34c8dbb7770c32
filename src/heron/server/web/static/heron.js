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

  // Trace detail: following a link to an observation opens its details.
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var found = id && document.getElementById(id);
    if (found && found.tagName === "DETAILS") found.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  // Forms marked data-autosubmit (the project switcher) submit when a choice changes.
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-autosubmit")) form.submit();
  });
})();
