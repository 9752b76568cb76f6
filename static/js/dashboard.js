// The dashboard's chart, drawn when its htmx part (reports/_dashboard_chart.html) has arrived
// with the figures as JSON: no inline script, which the Content-Security-Policy would not run.
// Chart.js sizes the canvas through element.style (the CSS object model), which style-src does
// not restrict.
htmx.onLoad(function (root) {
  if (!root.querySelector) return;
  var canvas = root.id === "outstanding-chart" ? root : root.querySelector("#outstanding-chart");
  if (!canvas || Chart.getChart(canvas)) return;
  var data = JSON.parse(document.getElementById("outstanding-data").textContent);
  var colours = ["#0d6efd", "#198754", "#ffc107", "#dc3545", "#6f42c1", "#20c997", "#fd7e14", "#6c757d", "#0dcaf0", "#d63384"];
  var million = new Intl.NumberFormat("vi-VN", {maximumFractionDigits: 0});
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.programmes.map(function (p, i) {
        return {label: p.code + " · " + p.name, data: p.values.map(function (v) { return v / 1e6; }),
                backgroundColor: colours[i % colours.length], stack: "outstanding"};
      })
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      interaction: {mode: "index", intersect: false},
      scales: {x: {stacked: true}, y: {stacked: true, ticks: {callback: function (v) { return million.format(v); }}}},
      plugins: {
        legend: {position: "bottom"},
        tooltip: {callbacks: {label: function (c) { return c.dataset.label + ": " + million.format(c.parsed.y); }}}
      }
    }
  });
});
