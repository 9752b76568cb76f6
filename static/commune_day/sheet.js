// The bulk entry screens of the commune day (templates/commune_day/enter_sheet.html), wired by
// data- attributes: the Content-Security-Policy runs no inline script. Without this file the
// form still works: a plain POST, totals computed by the server.
(function () {
  "use strict";

  // "1.500.000", "1,500,000", "1 500 000" → 1500000; anything else counts as 0 in the totals
  // (the server says what is wrong with it).
  function amount(text) {
    var raw = (text || "").replace(/[\s.,₫đ]/g, "");
    return /^\d+$/.test(raw) ? parseInt(raw, 10) : 0;
  }

  function grouped(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }

  function updateTotals(form) {
    var columns = [];
    form.querySelectorAll("tbody tr[data-row]:first-child input[data-col]").forEach(function (input) {
      if (input.dataset.col !== "receipt") columns.push(input.dataset.col);
    });
    columns.forEach(function (column, i) {
      var total = 0;
      form.querySelectorAll('input[data-col="' + column + '"]').forEach(function (input) {
        total += amount(input.value);
      });
      var cell = form.querySelector('[data-total="' + i + '"]');
      if (cell) cell.textContent = grouped(total);
    });
  }

  document.querySelectorAll("form[data-sheet]").forEach(function (form) {
    form.addEventListener("input", function () {
      updateTotals(form);
    });

    // Enter moves down to the same column of the next row instead of submitting: the clerk
    // types a column of the paper sheet top to bottom. The button still submits.
    form.addEventListener("keydown", function (event) {
      var input = event.target;
      if (event.key !== "Enter" || input.tagName !== "INPUT" || !input.dataset.col) return;
      event.preventDefault();
      var row = input.closest("tr");
      var next = row && row.nextElementSibling;
      var below = next && next.querySelector('input[data-col="' + input.dataset.col + '"]');
      if (below) {
        below.focus();
        below.select();
      } else {
        var button = form.querySelector("button[type=submit]");
        if (button) button.focus();
      }
    });
  });

  // A print button (data-print) prints the page.
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
