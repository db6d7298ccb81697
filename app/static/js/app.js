// Hubx Access: behaviour that CSP-safe markup cannot express (no inline script anywhere).
document.addEventListener("change", (event) => {
  // Language selector submits on change; the button stays for keyboard and no-JS users.
  if (event.target.id === "locale-select") event.target.form.requestSubmit();
});

// Copy a secret shown once: a button names the field it copies (data-copy-target, an id) and the live
// region that says whether it worked (data-copy-status). The field is selected either way, so Ctrl+C works.
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
