// An evaluator's page: poll each queued or running backfill until it ends (text via
// textContent only), then reload once so the figures (scores written, log) are current.
(function () {
  "use strict";
  function fmt(n) { return Number(n || 0).toLocaleString("en-US"); }
  function describe(job) {
    var of = fmt(job.done) + " of " + fmt(job.total) + " targets";
    if (job.status === "done") return "done, " + of;
    if (job.status === "failed") return "failed: " + (job.error || "unknown error");
    if (job.status === "cancelled") return "cancelled after " + of;
    if (job.status === "queued") return "queued";
    return "running: " + of;
  }
  function poll(item) {
    fetch(item.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) return;
        item.dataset.status = job.status;
        item.querySelector(".job-status").textContent = describe(job);
        var bar = item.querySelector("progress");
        bar.max = job.total || 1;
        bar.value = job.total ? job.done : (job.status === "done" ? 1 : 0);
        if (job.status === "queued" || job.status === "running") {
          setTimeout(function () { poll(item); }, 500);
        } else {
          var cancel = item.querySelector(".job-cancel");
          if (cancel) cancel.remove();
          if (job.status === "done") setTimeout(function () { window.location.reload(); }, 800);
        }
      })
      .catch(function () { setTimeout(function () { poll(item); }, 2000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".backfill-job").forEach(function (item) {
      if (item.dataset.status === "queued" || item.dataset.status === "running") poll(item);
    });
  });
})();
