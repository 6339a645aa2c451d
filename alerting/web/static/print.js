// The bulletin page's 打印 button (no inline handlers under the CSP).
document.addEventListener("click", function (event) {
  if (event.target.closest && event.target.closest("[data-print]")) window.print();
});
