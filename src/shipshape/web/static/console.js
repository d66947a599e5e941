// Shipshape console: small progressive enhancement. Every page works without it.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const text = button.getAttribute("data-copy");
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    // No clipboard API (plain HTTP on another host): select the text so Ctrl+C copies it.
    const shown = button.previousElementSibling;
    if (shown) window.getSelection().selectAllChildren(shown);
    return;
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
});

// Filter a list as one types (the server's search works without JavaScript too).
document.addEventListener("input", (event) => {
  const input = event.target.closest("input[data-filter]");
  if (!input) return;
  const needle = input.value.trim().toLowerCase();
  document.querySelectorAll(input.getAttribute("data-filter")).forEach((row) => {
    row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
  });
});

// The promote form: show the chosen target's policy before submitting.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-explain]");
  if (!select) return;
  const option = select.selectedOptions[0];
  const box = document.querySelector(select.getAttribute("data-explain"));
  if (box && option) box.textContent = option.getAttribute("data-policy") || "";
});
