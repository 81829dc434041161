// The wizard's enhancements (CSP 'self', no inline code; every page works without them):
// - each [data-local-time] cell shows its UTC instant in the browser's time zone, next to UTC;
// - the mapping rows can be narrowed to mapped, unmapped or erroneous ones (on top of the text filter).
(function () {
  "use strict";

  function localTimes() {
    var cells = document.querySelectorAll("[data-local-time]");
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
    for (var i = 0; i < cells.length; i++) {
      var when = new Date(cells[i].getAttribute("data-local-time"));
      if (isNaN(when.getTime())) continue;
      cells[i].textContent = when.toLocaleString("sv-SE").replace(" ", "T").slice(0, 16) + " (" + zone + ")";
    }
  }

  function rowFilter() {
    var box = document.getElementById("row-filter");
    if (!box) return;
    box.hidden = false;
    box.addEventListener("change", function (event) {
      var wanted = event.target.value;
      var rows = document.querySelectorAll("#mapping-rows > tr");
      for (var i = 0; i < rows.length; i++) {
        var state = rows[i].getAttribute("data-state");
        rows[i].classList.toggle("filtered-out", wanted !== "all" && state !== wanted && state !== "new");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    rowFilter();
  });
})();
