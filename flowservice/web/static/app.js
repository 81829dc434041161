// flowservice UI: the only first-party script (CSP 'self', no inline code). Pages work without it; it adds
// instant table filtering, the sandbox switcher's change-to-switch, copy buttons and focus after swaps.
(function () {
  "use strict";

  function filterList(input) {
    var list = document.getElementById(input.dataset.filter);
    if (!list) return;
    var status = document.getElementById(input.dataset.filterStatus);
    var needle = input.value.trim().toLowerCase();
    var items = list.children, shown = 0;
    for (var i = 0; i < items.length; i++) {
      var hit = !needle || items[i].dataset.key.indexOf(needle) !== -1;
      items[i].hidden = !hit;
      if (hit) shown++;
    }
    if (status) status.textContent = "Showing " + shown + " of " + items.length + " tables";
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches && target.matches("input[data-filter]")) filterList(target);
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]") && target.form) target.form.requestSubmit();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = "Copied";
    });
  });

  // keyboard shortcuts can be turned off (WCAG 2.1.4), on the About page; the choice stays in this browser
  function shortcutsOn() {
    try { return window.localStorage.getItem("fs-shortcuts") !== "off"; } catch (e) { return true; }
  }
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-shortcuts-toggle]")) return;
    try { window.localStorage.setItem("fs-shortcuts", box.checked ? "on" : "off"); } catch (e) { /* private mode */ }
  });

  // "/" focuses the page's search (not while typing in a field)
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || !shortcutsOn()) return;
    var active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) return;
    var search = document.querySelector("input[type=search]");
    if (search) { event.preventDefault(); search.focus(); }
  });

  // after a user-initiated swap of the explore pane, focus its heading
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "pane") {
      var heading = document.getElementById("pane-title") || event.detail.target.querySelector("[tabindex='-1']");
      if (heading) heading.focus();
    }
  });

  // a run page can announce its counters every 30 s to screen readers (off unless asked: status changes are
  // announced anyway, and a tick every second would drown everything else)
  var announcing = null;
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-announce-progress]")) return;
    if (announcing) { clearInterval(announcing); announcing = null; }
    if (!box.checked) return;
    announcing = setInterval(function () {
      var region = document.getElementById("run-progress-announce");
      var read = document.querySelector('[data-counter="read"]');
      var written = document.querySelector('[data-counter="written"]');
      if (!region || !read || !written) { clearInterval(announcing); announcing = null; return; }
      region.textContent = "Read " + read.textContent.trim() + ", written " + written.textContent.trim() + ".";
    }, 30000);
  });

  // "notify me in this browser": a desktop notification when a watched run reaches its final state (the
  // final fragment is the one without a polling trigger); nothing leaves the browser
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-notify-end]") || !box.checked || !window.Notification) return;
    if (Notification.permission !== "granted") Notification.requestPermission();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var live = document.getElementById("run-live");
    var box = document.querySelector("input[data-notify-end]");
    if (!live || !box || !box.checked || live.hasAttribute("hx-trigger") || box.dataset.notified) return;
    if (!window.Notification || Notification.permission !== "granted") return;
    box.dataset.notified = "yes";
    var status = document.getElementById("run-status-live");
    new Notification(document.title, {body: status ? status.textContent.trim() : "The run ended."});
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-js-only]").forEach(function (element) { element.hidden = false; });
    var toggle = document.querySelector("input[data-shortcuts-toggle]");
    if (toggle) toggle.checked = shortcutsOn();
    var alert = document.querySelector("[data-focus]");
    if (alert) alert.focus();
    var search = document.querySelector("input[data-filter]");
    if (search && search.value) filterList(search);
  });

  // polling (hx-trigger="every …" on [data-poll-visible]) waits while the tab is hidden or a dialog is open
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-poll-visible")) return;
    if (document.visibilityState !== "visible" || document.querySelector("dialog[open]")) event.preventDefault();
    else if (document.querySelector("input[data-bulk]:checked")) event.preventDefault();  // keep the user's selection
  });

  // a link with data-dialog opens that <dialog> (without JavaScript it leads to a confirm page)
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-dialog]");
    var dialog = link && document.getElementById(link.dataset.dialog);
    if (!dialog || !dialog.showModal) return;
    event.preventDefault();
    dialog.showModal();
  });
})();
