// Ticking times of the duty pages: <time data-countdown> ("剩余 12:34" / "已超时 05:10") and
// <time data-ago> ("3 分钟前"). The server's clock is the reference (data-server-now of the
// latest rendered part), so that a browser whose clock is off still counts the deadline right.
(function () {
  "use strict";
  var offset = 0;

  function serverNow() { return Date.now() + offset; }

  function resync() {
    var marks = document.querySelectorAll("[data-server-now]");
    if (marks.length) {
      var at = Date.parse(marks[marks.length - 1].getAttribute("data-server-now"));
      if (!isNaN(at)) { offset = at - Date.now(); }
    }
  }

  function clock(seconds) {
    var s = Math.abs(seconds);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (m < 10 ? "0" : "") + m, ss = (r < 10 ? "0" : "") + r;
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  function ago(seconds) {
    if (seconds < 60) { return "刚刚"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " 分钟前"; }
    if (seconds < 86400) { return Math.floor(seconds / 3600) + " 小时前"; }
    return Math.floor(seconds / 86400) + " 天前";
  }

  function tick() {
    var now = serverNow();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) { return; }
      var left = Math.trunc((due - now) / 1000);
      el.textContent = left > 0 ? "剩余 " + clock(left) : "已超时 " + clock(left);
      el.classList.toggle("over", left <= 0);
    });
    document.querySelectorAll("time[data-ago]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) { el.textContent = ago(Math.max(0, Math.trunc((now - at) / 1000))); }
    });
  }

  resync();
  document.body.addEventListener("htmx:afterSettle", function () { resync(); tick(); });
  setInterval(tick, 1000);
})();
