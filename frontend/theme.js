// Applies the saved theme before the first paint, so a dark-theme user never sees a white
// flash. A file of its own, not inline: the Content-Security-Policy runs no inline script.
(function () {
  try { var t = localStorage.getItem("corral-theme"); if (t) document.documentElement.dataset.theme = t; } catch (e) {}
})();
