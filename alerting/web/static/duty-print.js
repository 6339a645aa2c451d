// 交接班: the print button (no inline handlers under the CSP).
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var button = document.getElementById("print");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
});
