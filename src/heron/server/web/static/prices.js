// The prices page: poll each running re-pricing job until it ends (text via textContent
// only), then reload once so the list of unpriced models is current.
(function () {
  "use strict";
  function fmt(n) { return Number(n || 0).toLocaleString("en-US"); }
  function describe(job) {
    if (job.status === "done") return "done, " + fmt(job.done) + " observations re-priced";
    if (job.status === "failed") return "failed: " + (job.error || "unknown error");
    if (job.status === "queued") return "queued";
    return "re-pricing: " + fmt(job.done) + " of " + fmt(job.total) + " observations";
  }
  function poll(item) {
    var url = "/settings/prices/jobs/" + encodeURIComponent(item.dataset.job) +
      "?project=" + encodeURIComponent(item.dataset.project);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) return;
        item.dataset.status = job.status;
        item.querySelector(".reprice-status").textContent = describe(job);
        var bar = item.querySelector("progress");
        bar.max = job.total || 1;
        bar.value = job.total ? job.done : (job.status === "done" ? 1 : 0);
        if (job.status === "queued" || job.status === "running") {
          setTimeout(function () { poll(item); }, 500);
        } else if (job.status === "done") {
          // the list of unpriced models changed: show it (the job is then rendered done)
          setTimeout(function () { window.location.reload(); }, 800);
        }
      })
      .catch(function () { setTimeout(function () { poll(item); }, 2000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".reprice-job").forEach(function (item) {
      if (item.dataset.status === "queued" || item.dataset.status === "running") poll(item);
    });
  });
})();
