// Warns before an idle session ends: the server ends it after data-idle-seconds without a request. Shows the
// warning data-warning-seconds before that, with a button that keeps the session alive (a request to
// data-keepalive-url); when the time is up the page reloads, and the server sends the login page.
// Without JavaScript the session ends all the same; only the warning is missing.
(function () {
  "use strict";

  var warning = document.getElementById("session-warning");
  if (!warning || !window.fetch) {
    return;
  }
  var idle = parseInt(warning.getAttribute("data-idle-seconds"), 10) * 1000;
  var ahead = parseInt(warning.getAttribute("data-warning-seconds"), 10) * 1000;
  var url = warning.getAttribute("data-keepalive-url");
  var button = warning.querySelector("button");
  var warnTimer = null;
  var endTimer = null;

  function start() {
    window.clearTimeout(warnTimer);
    window.clearTimeout(endTimer);
    warning.hidden = true;
    warnTimer = window.setTimeout(function () {
      warning.hidden = false;
      button.focus();
    }, Math.max(idle - ahead, 0));
    endTimer = window.setTimeout(function () {
      window.location.reload();
    }, idle);
  }

  button.addEventListener("click", function () {
    window.fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (response.ok && !response.redirected) {
        start();
      } else {
        window.location.reload();
      }
    });
  });
  start();
})();
