// Follows a running operation: polls its state until it ends.
(function () {
  const box = document.getElementById("job");
  if (!box) return;
  const id = box.dataset.id;
  const $ = (name) => document.getElementById(name);
  async function poll() {
    const r = await fetch(`/jobs/${id}.json`, { credentials: "same-origin" });
    if (!r.ok) return;
    const j = await r.json();
    $("job-state").textContent = j.state;
    $("job-step").textContent = j.step;
    $("job-elapsed").textContent = j.elapsed;
    const bar = $("job-progress");
    // No total, or past the last write (syncing): an indeterminate bar, not one stuck at 100 %.
    if (j.state === "running" && (!j.total || j.no_return)) bar.removeAttribute("value");
    else { bar.max = j.total || 1; bar.value = j.total ? j.done : 1; }
    $("job-messages").replaceChildren(...j.messages.map((m) => Object.assign(document.createElement("li"), { textContent: m })));
    $("job-result").textContent = j.result;
    $("job-cancel").hidden = !j.can_cancel;
    if (j.safety) {
      $("job-safety").hidden = false;
      $("job-safety-link").textContent = j.safety;
      $("job-safety-link").href = "/s/" + encodeURIComponent(j.safety);
    }
    if (j.state === "running") setTimeout(poll, 400);
  }
  poll();
})();
