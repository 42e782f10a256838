// dupeguard web UI: progressive enhancement only. Every page works without this file.
// Loaded with `defer` from /static (Content-Security-Policy: script-src 'self').
(function () {
  "use strict";

  // A form sends once: its submit buttons are disabled while the request is under way
  // (the server also refuses a second submission of the same form nonce).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (form.dataset.sending === "1") { event.preventDefault(); return; }
    form.dataset.sending = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
        b.disabled = true;
      });
    }, 0);
  });

  // <select data-autosubmit>: changing it submits its form.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit();
    }
  });

  // <button data-confirm="Merge these records?">: asks first.
  document.addEventListener("click", function (event) {
    var el = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
    if (el && !window.confirm(el.getAttribute("data-confirm"))) event.preventDefault();
  });

  // For fetch() calls from page scripts: dupeguard.csrf() is the session's CSRF token
  // (read from the page's hidden csrf_token field); send it as X-CSRF-Token.
  window.dupeguard = {
    csrf: function () {
      var input = document.querySelector("input[name=csrf_token]");
      return input ? input.value : "";
    }
  };
})();

// --- entities → fields (ui-settings) ---
// <input type=checkbox data-autosubmit> saves at once: changing it submits its form, so the
// form's Save button (class js-hide, for pages without JavaScript) is hidden.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el instanceof HTMLInputElement && el.type === "checkbox" &&
        el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit();
    }
  });
})();
