// Hubx Access: behaviour that CSP-safe markup cannot express (no inline script anywhere).
document.addEventListener("change", (event) => {
  // Language selector submits on change; the button stays for keyboard and no-JS users.
  if (event.target.id === "locale-select") event.target.form.requestSubmit();
});
