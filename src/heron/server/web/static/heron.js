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

  // Forms marked data-autosubmit (the project switcher) submit when a choice changes.
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-autosubmit")) form.submit();
  });
})();
