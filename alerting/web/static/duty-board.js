// 值班看板: re-reads the live part every 5 s (not while a dialog is open, the tab is hidden, a
// request is under way or the officer is in a field; answered 304 when nothing changed), keeps the ticked rows and the focus across
// a refresh, and after "开始值班" shows a banner and plays a sound for an incident this browser has
// not seen before. The sound (static/duty-alert.wav) is generated, not recorded: 2 x 880 Hz beeps.
(function () {
  "use strict";
  var EVERY_MS = 5000, SEEN = "duty-seen", MUTED = "duty-muted", ON = "duty-on";
  var live = function () { return document.getElementById("board-live"); };
  var keep = { ticked: [], focus: null }, refreshes = 0;
  // The CSP admits no style attribute, so htmx must not carry one over when it settles a swap.
  if (window.htmx) {
    window.htmx.config.attributesToSettle = ["class", "width", "height"];
    // A refresh offers the tag of what is shown; 304 means unchanged: keep it, swap nothing.
    window.htmx.config.responseHandling = [{ code: "304", swap: false }]
      .concat(window.htmx.config.responseHandling);
  }

  function store(kind) { try { return window[kind]; } catch (e) { return null; } }
  function read(kind, key) { var s = store(kind); return s ? s.getItem(key) : null; }
  function write(kind, key, value) { var s = store(kind); if (s) { s.setItem(key, value); } }
  function seen() {
    try { return JSON.parse(read("localStorage", SEEN) || "[]"); } catch (e) { return []; }
  }
  function onDuty() { return read("sessionStorage", ON) === "1"; }
  function muted() { return read("localStorage", MUTED) === "1"; }

  function busy() {
    if (document.visibilityState !== "visible") { return true; }
    if (document.querySelector("dialog[open]")) { return true; }
    var form = document.getElementById("bulk");
    if (form && form.classList.contains("htmx-request")) { return true; }
    var el = document.activeElement;
    return !!el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && el.type !== "checkbox" && el.type !== "hidden"));
  }

  function counted() {  // seen by the browser test, which waits for a refresh rather than sleeping
    refreshes += 1;
    document.body.setAttribute("data-board-refreshes", String(refreshes));
  }

  function refresh() {
    var el = live();
    if (el && window.htmx && !busy()) { window.htmx.trigger(el, "duty-refresh"); }
  }

  function showControls() {
    var start = document.getElementById("duty-start"), mute = document.getElementById("duty-mute");
    if (start) {
      start.setAttribute("aria-pressed", onDuty() ? "true" : "false");
      start.textContent = onDuty() ? "值班中" : "开始值班";
    }
    if (mute) {
      mute.setAttribute("aria-pressed", muted() ? "true" : "false");
      mute.textContent = muted() ? "提示音：关" : "提示音：开";
    }
  }

  function play(banner) {
    var sound = document.getElementById("duty-sound");
    if (muted() || !sound) { banner.setAttribute("data-sound", "muted"); return; }
    sound.currentTime = 0;
    var p = sound.play();
    banner.setAttribute("data-sound", "played");
    if (p && p.catch) { p.catch(function () { banner.setAttribute("data-sound", "blocked"); }); }
  }

  // Compares the newest open incidents with those this browser has seen; remembers them all.
  function lookForNew() {
    var known = seen(), fresh = [];
    document.querySelectorAll("#board-newest li").forEach(function (li) {
      var id = li.getAttribute("data-id");
      if (known.indexOf(id) < 0) { fresh.push(li.getAttribute("data-label")); known.push(id); }
    });
    write("localStorage", SEEN, JSON.stringify(known.slice(-500)));
    if (!fresh.length || !onDuty()) { return; }
    var banner = document.getElementById("duty-banner");
    document.getElementById("duty-banner-text").textContent = fresh.join("；");
    banner.hidden = false;
    play(banner);
  }

  document.addEventListener("DOMContentLoaded", function () {
    showControls();
    lookForNew();
    var start = document.getElementById("duty-start");
    if (start) {
      start.addEventListener("click", function () {
        write("sessionStorage", ON, onDuty() ? "0" : "1");
        showControls();
        var sound = document.getElementById("duty-sound");
        if (onDuty() && sound && !muted()) {  // the click lets the page play sound from now on
          sound.volume = 0; var p = sound.play();
          var back = function () { sound.pause(); sound.volume = 1; };
          if (p && p.then) { p.then(back, back); } else { back(); }
        }
      });
    }
    var mute = document.getElementById("duty-mute");
    if (mute) {
      mute.addEventListener("click", function () {
        write("localStorage", MUTED, muted() ? "0" : "1");
        showControls();
      });
    }
    var close = document.getElementById("duty-banner-close");
    if (close) {
      close.addEventListener("click", function () { document.getElementById("duty-banner").hidden = true; });
    }
    if (live()) { setInterval(refresh, EVERY_MS); }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { refresh(); }
  });

  document.addEventListener("htmx:configRequest", function (event) {
    var el = event.detail.elt;
    if (!el || el.id !== "board-live" || event.detail.verb !== "get") { return; }
    var tag = el.getAttribute("data-etag");
    if (tag) { event.detail.headers["If-None-Match"] = tag; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (!event.detail.elt || event.detail.elt.id !== "board-live" || !xhr || xhr.status !== 304) { return; }
    var checked = xhr.getResponseHeader("X-Board-Checked"), shown = document.getElementById("board-checked");
    if (checked && shown) {  // "更新于" is when the board last asked, even if nothing changed
      shown.setAttribute("datetime", checked);
      shown.textContent = checked.slice(11, 19);
    }
    counted();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "board-live") { return; }
    var polled = event.detail.requestConfig && event.detail.requestConfig.verb === "get";
    keep.ticked = polled ? Array.prototype.map.call(
      document.querySelectorAll("#board-live input[name=ids]:checked"), function (i) { return i.value; }) : [];
    var el = document.activeElement;
    keep.focus = el && el.id && live() && live().contains(el) ? el.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!live()) { return; }
    counted();
    keep.ticked.forEach(function (value) {
      var box = document.querySelector("#board-live input[name=ids][value='" + CSS.escape(value) + "']");
      if (box) { box.checked = true; }
    });
    if (keep.focus) { var f = document.getElementById(keep.focus); if (f) { f.focus(); } }
    keep.ticked = []; keep.focus = null;
    lookForNew();
  });
})();
