// The "Loading demo data: n of N traces" banner: polls /demo/progress every second and
// removes itself once `heron demo` has sent everything.
(function () {
  "use strict";
  var banner = document.querySelector("[data-demo-loading]");
  if (!banner) return;
  var text = banner.querySelector("[data-demo-text]");
  var bar = banner.querySelector("[data-demo-bar]");

  function poll() {
    fetch("/demo/progress", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (!state) { setTimeout(poll, 3000); return; }
        if (!state.loading) {
          banner.remove();
          return;
        }
        text.textContent = "Loading demo data: " + state.done + " of " + state.total + " traces";
        bar.max = state.total;
        bar.value = state.done;
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
