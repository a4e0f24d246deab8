// The page's frame on small screens: the visible height (which the on-screen keyboard shrinks),
// the folding top bar, and the room a call takes beside the conversation.
import { el } from "./dom.js";

/** Keep --visible-height equal to what the reader can see, so the composer stays above the keyboard. */
export function followVisibleHeight() {
  const viewport = window.visualViewport;
  if (!viewport) return;
  const apply = () => document.body.style.setProperty("--visible-height", `${Math.round(viewport.height)}px`);
  viewport.addEventListener("resize", apply);
  // A rotated phone or a resized window may not resize the visual viewport first.
  window.addEventListener("resize", apply);
  apply();
}

/** On a phone the top bar folds to one row ("Menu" opens sections and tools); help stays visible. */
export function foldingTopBar() {
  const bar = document.querySelector(".topbar");
  const toggle = el("button", {
    type: "button", class: "menu-toggle", i18n: "app.menu",
    attrs: { "aria-expanded": "false", "aria-controls": "sections" },
    on: { click: () => setOpen(!bar.classList.contains("open")) },
  });
  function setOpen(open) {
    bar.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  }
  bar.querySelector(".brand").after(toggle);
  // Choosing a section closes the menu again, so the conversation gets the screen back.
  document.getElementById("sections").addEventListener("click", (e) => e.target.closest("button") && setOpen(false));
}

/** Mark the page while a call (or a ring) is shown, so the layout makes room for it beside the chat. */
export function followCallRegion(region) {
  const update = () => document.body.classList.toggle("in-call", region.childElementCount > 0);
  new MutationObserver(update).observe(region, { childList: true });
  update();
}
