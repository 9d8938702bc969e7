// Keeps lists live: on each change the server announces, reload the parts
// that show requests. Everything works without this script, by reloading.
"use strict";
(function () {
  const live = document.querySelector("[data-live]");
  const detail = document.querySelector("[data-request]");
  if (!live && !detail || !window.EventSource) return;
  const events = new EventSource("/ui/events");
  events.addEventListener("changed", async (e) => {
    if (live) {
      const r = await fetch(live.dataset.live, { credentials: "same-origin" });
      if (r.ok) live.innerHTML = await r.text();
    }
    if (detail && e.data === detail.dataset.request && !document.activeElement.closest("form")) {
      window.location.reload();
    }
  });
})();
