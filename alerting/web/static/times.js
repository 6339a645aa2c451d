// Times that tick each second: <time data-countdown> shows "剩余 12:34" or "已超时 05:10" against its
// datetime, <time data-relative> shows "3 分钟前". "Now" is the server's (data-server-now on the page)
// moved on by the browser's elapsed time, so a skewed office PC clock shows the county's countdown.
(function () {
  "use strict";
  var marker = document.querySelector("[data-server-now]");
  var offset = marker ? Date.parse(marker.getAttribute("data-server-now")) - Date.now() : 0;
  if (isNaN(offset)) { offset = 0; }

  function two(n) { return n < 10 ? "0" + n : String(n); }

  function span(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h >= 48) { return Math.floor(h / 24) + " 天 " + (h % 24) + " 小时"; }
    return (h ? h + ":" + two(m) : two(m)) + ":" + two(sec);
  }

  function relative(ms) {
    var s = Math.floor(ms / 1000);
    if (s < 60) { return "刚刚"; }
    if (s < 3600) { return Math.floor(s / 60) + " 分钟前"; }
    if (s < 86400) { return Math.floor(s / 3600) + " 小时前"; }
    return Math.floor(s / 86400) + " 天前";
  }

  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var left = Date.parse(el.getAttribute("datetime")) - now;
      el.textContent = left > 0 ? "剩余 " + span(left) : "已超时 " + span(left);
      var row = el.closest("tr");
      if (row) { row.classList.toggle("overdue", left <= 0); }
    });
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      el.textContent = relative(now - Date.parse(el.getAttribute("datetime")));
    });
  }

  tick();
  window.setInterval(tick, 1000);
}());
