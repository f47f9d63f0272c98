// Redress console: the little a page needs beyond HTML. Live rows (a page whose table is marked
// data-live fetches its rows again whenever the log moves) and sorting a table by a column.
(function () {
  "use strict";

  function refreshRows(rows, position) {
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "rows");
    url.searchParams.set("min_position", position);
    fetch(url.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { rows.innerHTML = html; } });
  }

  function live() {
    var rows = document.querySelector("tbody[data-live]");
    if (!rows || !window.EventSource) { return; }
    var timer = null;
    var source = new EventSource("/console/live");
    source.addEventListener("position", function (e) {
      clearTimeout(timer);
      timer = setTimeout(function () { refreshRows(rows, e.data); }, 200);
    });
  }

  function sortable() {
    document.querySelectorAll("table[data-sortable] th button[data-sort]").forEach(function (button) {
      button.addEventListener("click", function () {
        var column = Number(button.getAttribute("data-sort"));
        var body = button.closest("table").querySelector("tbody");
        var descending = button.getAttribute("aria-sort") === "ascending";
        var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-complaint]"));
        rows.sort(function (a, b) {
          var x = a.children[column].textContent.trim(), y = b.children[column].textContent.trim();
          return descending ? y.localeCompare(x) : x.localeCompare(y);
        });
        rows.forEach(function (row) { body.appendChild(row); });
        document.querySelectorAll("th button[data-sort]").forEach(function (b) { b.removeAttribute("aria-sort"); });
        button.setAttribute("aria-sort", descending ? "descending" : "ascending");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { live(); sortable(); });
})();

// Charts: each .chart[data-chart] holds {kind, labels, series: [{name, values}], marks}; drawn with the
// vendored uPlot (bars as stepped paths), marks as dashed vertical lines at the labels they name.
(function () {
  "use strict";
  var colors = ["#0b5cad", "#b36b00", "#7a3db8", "#1b6e3a"];
  function draw(el) {
    if (!window.uPlot) { return; }
    var spec = JSON.parse(el.getAttribute("data-chart"));
    if (!spec.labels.length) { return; }
    var xs = spec.labels.map(function (_, i) { return i; });
    var data = [xs].concat(spec.series.map(function (s) { return s.values.map(function (v) { return v === null ? null : Number(v); }); }));
    var marks = (spec.marks || []).map(function (m) { return spec.labels.indexOf(m); }).filter(function (i) { return i >= 0; });
    var bars = window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.7, 40] }) : null;
    var opts = {
      width: Math.max(320, Math.min(el.clientWidth || 640, 900)), height: 220,
      scales: { x: { time: false, range: function () { return [-0.6, xs.length - 0.4]; } } },
      axes: [{ values: function (_, ticks) { return ticks.map(function (t) { return spec.labels[t] || ""; }); } }, {}],
      series: [{}].concat(spec.series.map(function (s, i) {
        return { label: s.name, stroke: colors[i % colors.length], fill: colors[i % colors.length] + "55", paths: bars };
      })),
      hooks: { draw: [function (u) {
        var ctx = u.ctx; ctx.save(); ctx.strokeStyle = "#b3261e"; ctx.setLineDash([5, 4]); ctx.lineWidth = 2;
        marks.forEach(function (i) {
          var x = u.valToPos(i, "x", true);
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        });
        ctx.restore();
      }] }
    };
    new window.uPlot(opts, data, el);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".chart[data-chart]").forEach(draw);
  });
})();
