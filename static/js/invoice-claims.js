// Era fakturor: an invoice's claims are not on the list page; when its row is opened, this fetches them (the
// part of a page at data-invoice-claims) in place of the link to the invoice's own page, once. Without
// JavaScript, or if the fetch fails, the link stays and leads to the invoice's page, which shows every claim.
(function () {
  "use strict";

  if (!window.fetch) {
    return;
  }

  function load(holder) {
    if (holder.getAttribute("data-state")) {
      return;
    }
    holder.setAttribute("data-state", "loading");
    holder.setAttribute("aria-busy", "true");
    fetch(holder.getAttribute("data-invoice-claims"), {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
      cache: "no-store",
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        // The server's own HTML, for this user (the part a clinic page renders), never text from elsewhere.
        holder.innerHTML = html;
        holder.setAttribute("data-state", "loaded");
        holder.removeAttribute("aria-busy");
      })
      .catch(function () {
        // Keep the link; opening the row again tries again.
        holder.removeAttribute("data-state");
        holder.removeAttribute("aria-busy");
      });
  }

  document.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (!details.open || !details.querySelector) {
        return;
      }
      var holder = details.querySelector(":scope > [data-invoice-claims]");
      if (holder) {
        load(holder);
      }
    },
    true
  );
})();
