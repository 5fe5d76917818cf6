// The console's only script of its own: a form is sent once. A second click while the first is on its
// way does nothing (the form's command id would make it harmless at the service anyway).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sent === "1") { event.preventDefault(); return; }
  form.dataset.sent = "1";
  form.querySelectorAll("button[data-once]").forEach(function (b) { b.setAttribute("aria-busy", "true"); });
}, true);
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form[data-sent]").forEach(function (f) { delete f.dataset.sent; });
});
