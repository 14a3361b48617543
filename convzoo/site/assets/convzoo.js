// convzoo site: sort and filter the table of networks on the home page (no library, no network access).
(function () {
  function key(cell, kind) {
    if (!cell) return null;
    var v = cell.getAttribute("data-value");
    if (v === null || v === "") return kind === "number" ? null : cell.textContent.trim().toLowerCase();
    return kind === "number" ? parseFloat(v) : v.toLowerCase();
  }

  function setup() {
    var table = document.getElementById("cz-models");
    if (!table || table.getAttribute("data-ready")) return;
    table.setAttribute("data-ready", "1");
    var body = table.tBodies[0];
    var heads = table.tHead.rows[0].cells;
    var filter = document.getElementById("cz-filter");
    var count = document.getElementById("cz-count");

    function sortBy(i) {
      var th = heads[i], kind = th.getAttribute("data-kind");
      var asc = th.getAttribute("aria-sort") !== "ascending";
      for (var j = 0; j < heads.length; j++) heads[j].removeAttribute("aria-sort");
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[i], kind), y = key(b.cells[i], kind);
        if (x === null || y === null) return (x === null) - (y === null); // blanks last, either way
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }

    Array.prototype.forEach.call(heads, function (th, i) {
      th.addEventListener("click", function () { sortBy(i); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(i); }
      });
    });

    function applyFilter() {
      var words = (filter ? filter.value : "").toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(body.rows, function (r) {
        var text = r.textContent.toLowerCase();
        var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
        r.hidden = !ok;
        shown += ok ? 1 : 0;
      });
      if (count) count.textContent = shown + " of " + body.rows.length;
    }
    if (filter) filter.addEventListener("input", applyFilter);
    applyFilter();
  }

  if (window.document$ && window.document$.subscribe) window.document$.subscribe(setup);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
