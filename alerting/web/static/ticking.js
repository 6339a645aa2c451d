// Relative times that tick each second: <time data-ago datetime=…> shows "3 分钟前", and
// <time data-countdown datetime=…> shows "剩余 12:34" or "已超时 05:10". The page states the
// server's now (data-server-now), so a wrong clock on the office PC does not skew them.
(function () {
  "use strict";
  var marker = document.querySelector("[data-server-now]");
  var skew = marker ? Date.parse(marker.getAttribute("data-server-now")) - Date.now() : 0;
  function clock(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    var mm = (m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return h > 0 ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }
  function ago(seconds) {
    if (seconds < 60) return "刚刚";
    if (seconds < 3600) return Math.floor(seconds / 60) + " 分钟前";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " 小时前";
    return Math.floor(seconds / 86400) + " 天前";
  }
  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll("time[data-ago], time[data-countdown]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var target = el.querySelector(".rel") || el;
      var seconds = Math.round((now - at) / 1000);
      if (el.hasAttribute("data-countdown")) {
        if (el.hasAttribute("data-stopped")) return;
        target.textContent = seconds < 0 ? "剩余 " + clock(-seconds) : "已超时 " + clock(seconds);
        el.classList.toggle("overdue", seconds >= 0);
      } else {
        target.textContent = ago(Math.max(0, seconds));
      }
    });
  }
  tick();
  setInterval(tick, 1000);
})();
