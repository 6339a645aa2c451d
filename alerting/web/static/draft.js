// A form's draft kept in this browser (localStorage) while it is being written, so a dropped network
// or a closed tab loses nothing; restored when the form is opened again, cleared once the server has
// accepted it (the page it lands on carries data-clear-draft). The CSRF token is never stored.
(function () {
  "use strict";
  var PREFIX = "alerting-draft:";
  var SKIP = { csrf_token: true };

  function store() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  // Every draft of that form (one per incident or item it was opened for) is done with.
  document.querySelectorAll("[data-clear-draft]").forEach(function (el) {
    var s = store();
    if (!s) { return; }
    var start = PREFIX + el.getAttribute("data-clear-draft");
    Object.keys(s).forEach(function (key) {
      if (key === start || key.indexOf(start + ":") === 0) { s.removeItem(key); }
    });
  });

  function start() { document.querySelectorAll("form[data-draft]").forEach(keep); }

  function keep(form) {
    var s = store();
    if (!s) { return; }
    var key = PREFIX + form.getAttribute("data-draft");

    function save() {
      var values = {};
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name && !SKIP[el.name]) { values[el.name] = el.value; }
      });
      s.setItem(key, JSON.stringify(values));
    }

    var saved = s.getItem(key);
    // A form the server sent back (with errors) holds what was posted: it is the draft now.
    if (saved && !form.hasAttribute("data-server-form")) {
      var values = {};
      try { values = JSON.parse(saved) || {}; } catch (e) { values = {}; }
      var restored = false;
      // An option whose value is another field's (a new incident's id): it follows the draft's.
      form.querySelectorAll("option[data-draft-follows]").forEach(function (option) {
        var from = values[option.getAttribute("data-draft-follows")];
        if (typeof from === "string" && from) { option.value = from; }
      });
      Object.keys(values).forEach(function (name) {
        var el = form.elements.namedItem(name);
        if (el && !SKIP[name] && typeof values[name] === "string") {
          if (el.tagName === "SELECT" && !Array.prototype.some.call(el.options, function (o) { return o.value === values[name]; })) {
            var option = document.createElement("option");
            option.value = values[name];
            option.textContent = values[name];
            el.appendChild(option);
          }
          el.value = values[name];
          restored = true;
        }
      });
      var note = document.getElementById("draft-note");
      if (restored && note) { note.hidden = false; }
      // What depends on the restored values (the limits box) is asked for again, through htmx.
      // Once htmx has processed the page (a task later than its DOMContentLoaded handler).
      window.setTimeout(function () {
        form.querySelectorAll("select[hx-get]").forEach(function (el) {
          if (window.htmx) { window.htmx.trigger(el, "change"); }
        });
      }, 0);
    }
    save();
    form.addEventListener("input", save);
    form.addEventListener("change", save);
  }

  // After htmx has started (it does so on DOMContentLoaded too, registered earlier), so that the
  // change events above reach it.
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
