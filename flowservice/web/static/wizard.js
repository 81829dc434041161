// The wizard's one enhancement (CSP 'self', no inline code): each [data-local-time] cell shows its UTC instant
// in the browser's own time zone, so the next runs read in local time next to UTC.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var cells = document.querySelectorAll("[data-local-time]");
    for (var i = 0; i < cells.length; i++) {
      var when = new Date(cells[i].getAttribute("data-local-time"));
      if (isNaN(when.getTime())) continue;
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
      cells[i].textContent = when.toLocaleString("sv-SE").replace(" ", "T").slice(0, 16) + " (" + zone + ")";
    }
  });
})();
