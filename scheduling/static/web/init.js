import { initAll } from "../vendor/nhsuk/nhsuk-frontend.min.js";

// As nhsuk-frontend's own page template does (there with an inline script, which the CSP forbids): the
// design system's components run only on a body that says the browser supports them.
document.body.classList.add("nhsuk-frontend-supported");
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

// Observer look-up: suggestions from /api/v1/people/lookup as the requester types (the form works without it).
for (const input of document.querySelectorAll("[data-lookup]")) {
  const list = document.createElement("datalist");
  list.id = `${input.id}-suggestions`;
  input.after(list);
  input.setAttribute("list", list.id);
  let last = "";
  input.addEventListener("input", async () => {
    const parts = input.value.split(",");
    const typed = parts.pop().trim();
    if (typed.length < 2 || typed === last || /\)\s*$/.test(typed)) return;
    last = typed;
    const response = await fetch(`${input.dataset.lookup}?q=${encodeURIComponent(typed)}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const before = parts.map((p) => p.trim()).filter(Boolean);
    list.replaceChildren(
      ...(await response.json()).map((person) => {
        const option = document.createElement("option");
        option.value = [...before, `${person.name || person.username} (${person.username})`].join(", ");
        return option;
      }),
    );
  });
}
