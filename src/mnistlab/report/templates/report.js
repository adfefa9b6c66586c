// The report's own script: sortable tables, figures enlarged on click, the class-by-class view.
// It runs under the page's Content-Security-Policy (allowed by its sha256 hash): no eval, no
// inline event handlers, nothing fetched. Without it the page still reads: every class is shown.
(function () {
  "use strict";

  // Sortable tables ---------------------------------------------------------------------------
  const MISSING = /^(n\/a|nan|none|-|\u2014|)$/i;
  // The leading number of "1,234", "-0.5", "81.2%", "12.3 %", "+1.5 pts", "0.4 s", "12 (0.5%)".
  const NUMBER =
    /^([+\-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[+\-]?\d+)?)\s*(?:%|s|ms|pts|points|[kMG]B)?(?:\s*\(.*\))?$/i;
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function numberIn(text) {
    const found = NUMBER.exec(text);
    return found ? parseFloat(found[1].replace(/,/g, "").replace("\u2212", "-")) : null;
  }

  // Sort by one column: numbers as numbers when every filled cell is one, else text (with the
  // numbers inside it in order: "class 2" before "class 10"); missing values ("n/a") always
  // last; ties keep the table's first order. Sorting by the same column again reverses it.
  function sortTable(table, column, header) {
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    const body = table.tBodies[0];
    const keys = Array.from(body.rows, (row) => {
      const cell = row.cells[column];
      const text = cell ? cell.textContent.trim() : "";
      return { row, text, missing: MISSING.test(text), number: numberIn(text), order: +row.dataset.order };
    });
    const numeric = keys.every((k) => k.missing || k.number !== null);
    keys.sort((a, b) => {
      if (a.missing !== b.missing) return a.missing ? 1 : -1;
      let d = 0;
      if (!a.missing) d = numeric ? a.number - b.number : collator.compare(a.text, b.text);
      return (ascending ? d : -d) || a.order - b.order;
    });
    for (const k of keys) body.appendChild(k.row);
    for (const other of header.parentNode.cells) other.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  for (const table of document.querySelectorAll("main table, footer table")) {
    if (table.closest(".interactive") || !table.tHead || !table.tBodies.length) continue;
    if (table.tBodies[0].rows.length < 2) continue;
    Array.from(table.tBodies[0].rows).forEach((row, i) => {
      row.dataset.order = String(i);
    });
    Array.from(table.tHead.rows[0].cells).forEach((header, column) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.title = "Sort by this column (again to reverse)";
      while (header.firstChild) button.appendChild(header.firstChild);
      if (!button.textContent.trim()) button.setAttribute("aria-label", `column ${column + 1}`);
      header.appendChild(button);
      button.addEventListener("click", () => sortTable(table, column, header));
    });
  }

  // Figures enlarged --------------------------------------------------------------------------
  let dialog = null;
  let opener = null;

  function zoomDialog() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "zoom";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.textContent = "\u00d7";
    close.setAttribute("aria-label", "Close");
    const figure = document.createElement("figure");
    figure.append(document.createElement("img"), document.createElement("figcaption"));
    dialog.append(close, figure);
    dialog.addEventListener("click", () => dialog.close()); // anywhere: the figure too
    dialog.addEventListener("close", () => opener && opener.focus());
    document.body.appendChild(dialog);
    return dialog;
  }

  function enlarge(source) {
    const shown = zoomDialog();
    const img = shown.querySelector("img");
    const pixels = source.classList.contains("px"); // a dataset image: whole pixels, unsmoothed
    const w = source.naturalWidth || 1;
    const h = source.naturalHeight || 1;
    const fit = Math.min((window.innerWidth * 0.9) / w, (window.innerHeight * 0.78) / h);
    const scale = pixels ? Math.max(1, Math.floor(fit)) : Math.min(fit, 2);
    img.src = source.currentSrc || source.src;
    img.alt = source.alt;
    img.classList.toggle("px", pixels);
    img.style.width = `${Math.round(w * scale)}px`;
    // A class's map is its points laid over the dataset's map, a background image: keep both.
    img.style.backgroundImage = getComputedStyle(source).backgroundImage;
    img.style.backgroundSize = "100% 100%";
    shown.querySelector("figcaption").textContent = source.alt;
    opener = source;
    shown.showModal();
    shown.querySelector(".close").focus();
  }

  for (const img of document.querySelectorAll("main img")) {
    if (img.closest(".interactive")) continue;
    img.tabIndex = 0;
    img.setAttribute("role", "button");
    img.setAttribute("aria-haspopup", "dialog");
    img.title = img.title || "Click to enlarge";
    img.addEventListener("click", () => enlarge(img));
    img.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        enlarge(img);
      }
    });
  }

  // The class-by-class view: one class at a time ----------------------------------------------
  for (const panel of document.querySelectorAll(".class-panel")) {
    const choice = panel.querySelector(".class-choice");
    const select = choice.querySelector("select");
    const views = panel.querySelectorAll(".class-view");
    const show = (label) => {
      select.value = String(label);
      for (const view of views) view.hidden = view.dataset.label !== select.value;
    };
    choice.hidden = false;
    select.addEventListener("change", () => show(select.value));
    for (const button of panel.querySelectorAll("button.goto")) {
      button.disabled = false;
      button.title = "Show this class";
      button.addEventListener("click", () => {
        show(button.dataset.label);
        select.focus();
      });
    }
    show(select.value);
  }
})();
