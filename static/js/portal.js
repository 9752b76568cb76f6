// Branch Portal: the behaviour of every page, wired by data- attributes. It lives here and not in
// the templates because the Content-Security-Policy runs no inline script or event handler.
(function () {
  "use strict";

  // A form that asks first (data-confirm: the question) is not sent when the clerk says no.
  // Registered before the data-once listener below, which leaves a cancelled submit alone.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // A posting form is sent once: its buttons are disabled right after the browser has built
  // the request (the hidden idempotency key protects the server side as well).
  // A slow one (data-busy: what it is doing) says so on its button while the server works.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once") || event.defaultPrevented) return;
    setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        b.disabled = true;
        if (form.dataset.busy) {
          var spinner = document.createElement("span");
          spinner.className = "spinner-border spinner-border-sm me-2";
          spinner.setAttribute("aria-hidden", "true");
          b.replaceChildren(spinner, document.createTextNode(form.dataset.busy));
        }
      });
      if (form.dataset.busy) form.setAttribute("aria-busy", "true");
    }, 0);
  });

  // A select that applies itself (data-autosubmit): an office picker, a list filter.
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.form && field.hasAttribute("data-autosubmit")) field.form.submit();
  });

  // A part of a page loaded on its own (data-load-error: what to say) says so when it fails,
  // instead of spinning for ever.
  ["htmx:responseError", "htmx:sendError"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var target = event.detail.elt;
      if (!target.dataset.loadError) return;
      var alert = document.createElement("div");
      alert.className = "alert alert-danger mb-0";
      alert.setAttribute("role", "alert");
      alert.textContent = target.dataset.loadError;
      target.replaceChildren(alert);
      // A part whose response also fills other places (hx-swap-oob) clears their spinners too.
      if (target.dataset.loadErrorAlso) {
        document.querySelectorAll(target.dataset.loadErrorAlso).forEach(function (el) {
          el.replaceChildren(alert.cloneNode(true));
        });
      }
    });
  });

  // A form whose fields depend on a choice (data-fields-for: the select's id) shows only the
  // fields of the chosen value (data-period on each): the report request's period.
  document.querySelectorAll("[data-fields-for]").forEach(function (form) {
    var select = document.getElementById(form.dataset.fieldsFor);
    if (!select) return;
    function sync() {
      form.querySelectorAll("[data-period]").forEach(function (el) {
        el.classList.toggle("d-none", el.getAttribute("data-period") !== select.value);
      });
    }
    select.addEventListener("change", sync);
    sync();
  });

  // A choice that follows another (data-follows: the other select's id) offers only the options
  // of the commune chosen there (data-commune on the options of both): the household form's
  // group follows its village. A choice the change leaves outside is cleared; the one the page
  // came with stays offered until then, so an edit that changes nothing keeps it.
  document.querySelectorAll("select[data-follows]").forEach(function (select) {
    var leader = document.getElementById(select.dataset.follows);
    if (!leader) return;
    function sync(changed) {
      var chosen = leader.options[leader.selectedIndex];
      var commune = chosen && chosen.value !== "" ? chosen.dataset.commune : null;
      Array.prototype.forEach.call(select.options, function (option) {
        var outside = commune !== null && option.value !== "" && option.dataset.commune !== commune;
        if (outside && option.selected && !changed) outside = false;
        option.hidden = outside;
        option.disabled = outside;
        if (outside && option.selected) select.value = "";
      });
    }
    leader.addEventListener("change", function () {
      sync(true);
    });
    sync(false);
  });
})();
