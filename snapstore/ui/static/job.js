// Follows a running operation: polls its state until it ends.
(function () {
  const box = document.getElementById("job");
  if (!box) return;
  const id = box.dataset.id;
  async function poll() {
    const r = await fetch(`/jobs/${id}.json`, { credentials: "same-origin" });
    if (!r.ok) return;
    const j = await r.json();
    document.getElementById("job-state").textContent = j.state;
    document.getElementById("job-step").textContent = j.step;
    const bar = document.getElementById("job-progress");
    bar.max = j.total || 1; bar.value = j.total ? j.done : 0;
    const list = document.getElementById("job-messages");
    list.replaceChildren(...j.messages.map((m) => Object.assign(document.createElement("li"), { textContent: m })));
    document.getElementById("job-result").textContent = j.result;
    document.getElementById("job-cancel").hidden = j.state !== "running";
    if (j.state === "running") setTimeout(poll, 400);
  }
  poll();
})();
