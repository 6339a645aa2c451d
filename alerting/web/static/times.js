// Times that tick each second: <time data-countdown datetime=…> shows "剩余 12:34" or "已超时 05:10"
// (days from 48 h on; into its .rel child if it has one; not once data-stopped) and turns "overdue",
// with its row when data-countdown="row"; <time data-ago datetime=…> shows "3 分钟前".
// "Now" is the server's (data-server-now), moved on by the browser's elapsed time, so a wrong office
// PC clock does not skew the county's deadlines; a marker that an htmx swap brings re-syncs it.
// The server writes the same texts (alerting/web/clock_text.py).
(function () {
  "use strict";
  var offset = 0, synced = null;

  function resync() {
    var marks = document.querySelectorAll("[data-server-now]");
    var mark = marks.length ? marks[marks.length - 1] : null;
    if (!mark || mark === synced) { return; }  // an old marker would turn the clock back
    var at = Date.parse(mark.getAttribute("data-server-now"));
    if (!isNaN(at)) { offset = at - Date.now(); synced = mark; }
  }

  function two(n) { return n < 10 ? "0" + n : String(n); }

  function span(seconds) {
    var s = Math.abs(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h >= 48) { return Math.floor(h / 24) + " 天 " + (h % 24) + " 小时"; }
    return (h ? h + ":" + two(m) : two(m)) + ":" + two(s % 60);
  }

  function ago(seconds) {
    if (seconds < 60) { return "刚刚"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " 分钟前"; }
    if (seconds < 86400) { return Math.floor(seconds / 3600) + " 小时前"; }
    return Math.floor(seconds / 86400) + " 天前";
  }

  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll("time[data-countdown]:not([data-stopped])").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) { return; }
      var left = Math.trunc((due - now) / 1000), over = left <= 0;
      (el.querySelector(".rel") || el).textContent = (over ? "已超时 " : "剩余 ") + span(left);
      el.classList.toggle("overdue", over);
      var row = el.getAttribute("data-countdown") === "row" ? el.closest("tr") : null;
      if (row) { row.classList.toggle("overdue", over); }
    });
    document.querySelectorAll("time[data-ago]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) { return; }
      (el.querySelector(".rel") || el).textContent = ago(Math.max(0, Math.trunc((now - at) / 1000)));
    });
  }

  resync();
  tick();
  document.addEventListener("htmx:afterSettle", function () { resync(); tick(); });
  setInterval(tick, 1000);
}());
