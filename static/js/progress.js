// Moves a background job's progress bar without reloading the page: polls the JSON status URL given in
// data-import-status, updates the bar and the counts, and reloads the page once the job has finished so
// that the server shows the final report. Without JavaScript the page refreshes itself instead.
(function () {
  "use strict";

  var POLL_MS = 1500;
  var RETRY_MS = 5000;
  var root = document.querySelector("[data-import-status]");
  if (!root || !window.fetch) {
    return;
  }
  var url = root.getAttribute("data-import-status");
  var bar = root.querySelector("progress");

  function show(name, value) {
    var elements = document.querySelectorAll('[data-import="' + name + '"]');
    for (var i = 0; i < elements.length; i++) {
      if (elements[i].textContent !== String(value)) {
        elements[i].textContent = value;
      }
    }
  }

  function update(status) {
    if (bar && status.total > 0) {
      bar.max = status.total;
      bar.value = status.processed;
    }
    show("state_label", status.state_label);
    show("processed", status.processed);
    show("total", status.total);
    show("created", status.created);
    show("updated", status.updated);
    show("unchanged", status.unchanged);
    show("errors", status.errors);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        update(status);
        if (status.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () {
        // A lost connection or a restarting server: keep trying, more slowly.
        window.setTimeout(poll, RETRY_MS);
      });
  }

  window.setTimeout(poll, POLL_MS);
})();
