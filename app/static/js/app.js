// Hubx Access: behaviour that CSP-safe markup cannot express (no inline script anywhere). Every page works
// without this file; it only adds what needs a script (docs/architecture.md, "UI conventions").
//
// Loaded in <head> without `defer`, so the `js` class is on <html> before anything is painted: CSS can tell a
// page that runs scripts from one that does not (the navigation is laid out open when nothing can toggle it).
document.documentElement.classList.add("js");

// ---------------------------------------------------------------- controls that need JavaScript
// A control that only works with a script is rendered `hidden` with the class `js-only`; it is shown here, on
// the first page and in every part of a page swapped in later (htmx), whatever inserted it.
function revealScriptControls(root) {
  if (root.matches && root.matches(".js-only[hidden]")) root.hidden = false;
  if (root.querySelectorAll) root.querySelectorAll(".js-only[hidden]").forEach((el) => { el.hidden = false; });
}

// ---------------------------------------------------------------- focus on the error summary (or the news)
// A form refused by the server shows a summary of its errors (macros/forms.html `form_errors`, marked
// `data-error-summary`). Focus moves to it once, on the full page and after an htmx swap, so keyboard and
// screen-reader users hear what went wrong and can follow its links to each field. An answer that replaced
// what had the focus (a rule added, a rule removed from the list) marks its message `data-focus-on-arrival`,
// so the focus lands on the news instead of falling back to the page.
function focusErrorSummary(root) {
  const summary = root.querySelector &&
    root.querySelector("[data-error-summary]:not([data-announced]), [data-focus-on-arrival]:not([data-announced])");
  if (!summary) return;
  summary.dataset.announced = "1";
  summary.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  revealScriptControls(document.body);
  focusErrorSummary(document.body);
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      mutation.addedNodes.forEach((node) => {
        if (node.nodeType === Node.ELEMENT_NODE) revealScriptControls(node);
      });
    }
    focusErrorSummary(document.body);
  }).observe(document.body, { childList: true, subtree: true });
});

// ---------------------------------------------------------------- one request per click
// While a form's request is in flight its buttons are disabled and a second submit of it is dropped, so a
// double click or a second Enter sends one request. Plain forms: from the submit until the next page (a page
// restored from the back/forward cache gets its buttons back). htmx forms: from the request until its end.
const BUSY = "hxBusy";

function setBusy(form, busy) {
  if (!form) return;
  if (busy) form.dataset[BUSY] = "1"; else delete form.dataset[BUSY];
  form.setAttribute("aria-busy", busy ? "true" : "false");
  const buttons = form.querySelectorAll("button:not([type=button]), input[type=submit]");
  buttons.forEach((button) => {
    if (busy && !button.disabled) {
      button.disabled = true;
      button.dataset.busyDisabled = "1";
    } else if (!busy && button.dataset.busyDisabled) {
      button.disabled = false;
      delete button.dataset.busyDisabled;
    }
  });
}

// Capture phase: runs before htmx's own listener, so a second submit never reaches it.
document.addEventListener("submit", (event) => {
  if (event.target.dataset && event.target.dataset[BUSY]) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// Bubble phase: a plain form (htmx has not taken it: not prevented) is busy until the page changes. Disabled
// after this task, so the button that submitted still sends its name and value.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
  form.dataset[BUSY] = "1";
  setTimeout(() => setBusy(form, true), 0);
});

window.addEventListener("pageshow", (event) => {
  if (event.persisted) document.querySelectorAll("form[aria-busy=true]").forEach((form) => setBusy(form, false));
});

function requestForm(event) {
  const source = event.detail && event.detail.ctx && event.detail.ctx.sourceElement;
  if (!(source instanceof Element)) return null;
  return source.closest("form") || source;
}

document.addEventListener("htmx:before:request", (event) => setBusy(requestForm(event), true));
document.addEventListener("htmx:finally:request", (event) => setBusy(requestForm(event), false));

// ---------------------------------------------------------------- menus without Bootstrap's script
// The tenant switcher and the user menu are <details> elements (they open and sign-out works without
// JavaScript); with it, an open menu closes on Escape or on a click elsewhere.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.menu[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.open = false;
  });
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.menu[open]").forEach((menu) => {
    menu.open = false;
    menu.querySelector("summary").focus();
  });
});

// ---------------------------------------------------------------- language selector
document.addEventListener("change", (event) => {
  // Submits on change; the button stays for keyboard and no-JS users.
  if (event.target.id === "locale-select") event.target.form.requestSubmit();
});

// ---------------------------------------------------------------- copying a secret shown once
// A button names the field it copies (data-copy-target, an id) and the live region that says whether it worked
// (data-copy-status). The field is selected either way, so Ctrl+C works.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copyTarget);
  if (!field) return;
  field.focus();
  field.select();
  let copied = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    }
  } catch (error) {
    copied = false; // permission refused: fall back below
  }
  if (!copied) {
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
  }
  const status = document.getElementById(button.dataset.copyStatus || "");
  if (status) status.textContent = copied ? button.dataset.copiedText : button.dataset.copyFailedText;
});

// A read-only secret selects itself when focused, ready to copy from the keyboard.
document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
});

// After htmx swaps in an answer asked for by (or into) an element marked data-focus-after-swap="<id>", move the
// focus to the element with that id (a heading with tabindex="-1") and keep it in sight: keyboard and
// screen-reader users land on what they asked for (the permissions page's "Why?" panel).
document.addEventListener("htmx:after:swap", (event) => {
  const marked = event.target instanceof Element ? event.target.closest("[data-focus-after-swap]") : null;
  const heading = marked ? document.getElementById(marked.dataset.focusAfterSwap) : null;
  if (!heading) return;
  heading.focus({ preventScroll: true });
  heading.scrollIntoView({ block: "start" });
});
