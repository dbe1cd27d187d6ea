(() => {
  "use strict";
  // Diffs of older versions arrive as inert <template>s (a 200-version page stays quick to
  // open); a diff's rows are put in place the first time it is opened.
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (details.matches && details.matches("details.diff") && details.open) {
      const template = details.querySelector(":scope > template");
      if (template) template.replaceWith(template.content);
    }
  }, true);
  // Open or close every diff at once.
  for (const button of document.querySelectorAll("button[data-diffs]")) {
    button.addEventListener("click", () => {
      const open = button.dataset.diffs === "open";
      for (const details of document.querySelectorAll("details.diff")) details.open = open;
    });
  }
  // Live view (avo report --serve): poll the server's state and reload when the run moved on.
  const body = document.body;
  const url = body.dataset.liveUrl;
  if (url) {
    const every = Number(body.dataset.liveMs) || 2000;
    const shown = body.dataset.liveState;
    const tick = async () => {
      try {
        const reply = await fetch(url, { cache: "no-store" });
        if (reply.ok && (await reply.text()).trim() !== shown) {
          location.reload();
          return;
        }
      } catch (error) {
        // The server is gone (the run ended, or it was stopped): keep the page and try again.
      }
      setTimeout(tick, every);
    };
    setTimeout(tick, every);
  }
})();
