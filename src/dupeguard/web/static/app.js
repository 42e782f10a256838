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
// --- Duplicates review (web/routes/duplicates.py) ---------------------------------------
// Keyboard shortcuts: an element with data-key="m" (several keys space-separated) is clicked
// when that key is pressed, unless focus is in a text field, a select or a text area (or a
// modifier key is held). The page shows the legend; buttons carry aria-keyshortcuts.
// The job page polls its JSON status while the job runs and reloads when it ends.
// On the review page, choosing another survivor shows what "Automatic" keeps for it.
(function () {
  "use strict";

  function typing(el) {
    if (!(el instanceof Element)) return false;
    if (el.isContentEditable || el.closest("textarea, select")) return true;
    if (el instanceof HTMLInputElement) {
      return ["radio", "checkbox", "button", "submit", "reset"].indexOf(el.type) < 0;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(document.activeElement) || typing(event.target)) return;
    var key = (event.key || "").toLowerCase();
    if (key.length !== 1 || !/[a-z]/.test(key)) return;
    var targets = document.querySelectorAll("[data-key]");
    for (var i = 0; i < targets.length; i++) {
      var el = targets[i];
      if (el.getAttribute("data-key").split(/\s+/).indexOf(key) >= 0 && !el.disabled) {
        event.preventDefault();
        el.click();
        return;
      }
    }
  });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!(el instanceof HTMLInputElement) || !el.hasAttribute("data-survivor")) return;
    document.querySelectorAll("[data-auto-for]").forEach(function (span) {
      span.hidden = span.getAttribute("data-auto-for") !== el.value;
    });
  });

  var job = document.querySelector("[data-job-status]");
  if (job && job.getAttribute("data-job-active") === "1" && window.fetch) {
    var bar = document.getElementById("job-progress");
    var percent = document.getElementById("job-percent");
    var status = document.getElementById("job-status");
    var stage = document.getElementById("job-stage");
    var poll = function () {
      fetch(job.getAttribute("data-job-status"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          bar.value = data.progress;
          percent.textContent = Math.round(data.progress * 100) + "%";
          status.textContent = data.status;
          stage.textContent = data.stage || "";
          if (data.active) window.setTimeout(poll, 700);
          else window.location.reload();
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 300);
  }
})();
