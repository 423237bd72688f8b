// The call page's "who spoke when": a bar's or an event's details (its <title>) by tap or
// keyboard as well as by pointing, written under the picture, since phones have no hover.
(() => {
  "use strict";
  const svg = document.querySelector("svg.timeline");
  const detail = document.getElementById("timeline-detail");
  if (!svg || !detail) return;
  const show = (target) => {
    const item = target.closest("[tabindex]");
    const title = item && item.querySelector("title");
    if (title) detail.textContent = title.textContent;
  };
  svg.addEventListener("click", (e) => show(e.target));
  svg.addEventListener("focusin", (e) => show(e.target));
  svg.addEventListener("mouseover", (e) => show(e.target));
})();
