// The 打印 buttons (<button data-print>) of the bulletin and 交接班: no inline handlers under the CSP.
document.addEventListener("click", function (event) {
  if (event.target.closest && event.target.closest("[data-print]")) { window.print(); }
});
