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
// --- Import (web/routes/imports.py) -------------------------------------------------------
(function () {
  "use strict";

  // Mapping step: the button reads "Preview Import" when duplicate detection applies (Skip or
  // Update, and the entity has match keys), else "Start Import". The server decides the same
  // way whatever the button says.
  var mode = document.querySelector("select[data-import-mode]");
  var go = document.getElementById("import-go");
  if (mode && go) {
    var sync = function () {
      var previews = mode.hasAttribute("data-has-keys") && mode.value !== "off";
      go.textContent = previews ? "Preview Import" : "Start Import";
      go.value = previews ? "preview" : "start";
    };
    mode.addEventListener("change", sync);
    sync();
  }

  // Upload: a file over the import limit is refused before it is sent.
  var file = document.querySelector("input[type=file][data-max-bytes]");
  if (file) {
    file.addEventListener("change", function () {
      var limit = Number(file.getAttribute("data-max-bytes"));
      var big = file.files && file.files[0] && file.files[0].size > limit;
      file.setCustomValidity(big ? file.getAttribute("data-too-large") : "");
      if (big) file.reportValidity();
    });
  }

  // Progress: poll the JSON status, move the <progress>, reload when the import is done.
  var box = document.querySelector("[data-import-progress]");
  if (box) {
    var bar = box.querySelector("progress");
    var text = document.getElementById("progress-text");
    var poll = function () {
      fetch(box.getAttribute("data-status-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (s) {
          bar.max = Math.max(s.row_count, 1);
          bar.value = s.processed_rows;
          bar.textContent = Math.round(s.progress * 100) + "%";
          if (text) text.textContent = s.processed_rows.toLocaleString() + " of " + s.row_count.toLocaleString() + " rows";
          if (s.done) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }
})();
