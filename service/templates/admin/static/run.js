// The run page's live counts: polls the run's progress while it runs, then reloads once to show
// the failures and notes of the finished run.
(function () {
  "use strict";
  var box = document.getElementById("run");
  if (!box) { return; }
  var url = box.getAttribute("data-progress");
  function set(id, text) { var e = document.getElementById(id); if (e) { e.textContent = text; } }
  function tick() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (run) {
        Object.keys(run.counts).forEach(function (k) { set("count-" + k, String(run.counts[k])); });
        set("count-total", run.total === null ? "not known yet" : String(run.total));
        var done = run.done + (run.total ? " of " + run.total : "") + " documents done";
        if (run.eta_seconds !== null) { done += ", about " + run.eta_seconds + " s left"; }
        set("run-done", done);
        var bar = document.getElementById("run-bar");
        if (bar && run.total) { bar.max = run.total; bar.value = run.done; }
        if (run.status !== "running") { location.reload(); return; }
        setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 500);
}());
