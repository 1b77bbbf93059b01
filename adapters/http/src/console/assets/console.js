// boxtrace console: refreshes the overview's live part in place. The page works without
// it (reload to refresh); a failed poll keeps the last figures and tries again later.
"use strict";
(function () {
  const live = document.querySelector("[data-live]");
  if (!live) return;
  const every = Number(live.dataset.every) || 5000;
  async function refresh() {
    // Skip a round while the tab is hidden, or while the keyboard focus is inside the
    // live part: replacing it would drop the focus back to the top of the page.
    const busy = document.hidden || live.contains(document.activeElement);
    if (!busy) {
      try {
        const response = await fetch(live.dataset.live, { credentials: "same-origin", cache: "no-store" });
        if (response.status === 401) { window.location.assign("/console/login"); return; }
        if (response.ok) live.innerHTML = await response.text();
      } catch (_) {
        // Offline, or the server restarts: the next round tries again.
      }
    }
    window.setTimeout(refresh, every);
  }
  window.setTimeout(refresh, every);
})();
