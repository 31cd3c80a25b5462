import { initAll } from "../vendor/nhsuk/nhsuk-frontend.min.js";

initAll();

// "Copy link" buttons: copy the field they point at and say so for screen readers.
for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const field = document.querySelector(button.dataset.copy);
    const status = document.querySelector(".ra-copied");
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
    } catch {
      document.execCommand("copy");
    }
    if (status) status.textContent = "Link copied.";
  });
}

// "Print" buttons (the learning log): no inline script, so the page's CSP stays strict.
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
