// Registrera räkning with JavaScript. The page works without it by posting each step; this makes the steps
// quicker: "Lägg till åtgärd" and "Ta bort" post the form in the background and swap in the lines part the
// server renders (header X-Claim-Partial), the entry row shows Tand, Käke and Pris only when the chosen code
// needs them, and "Skicka in tandvårdsräkning" sends once. As the clinic types, the validate URL (in
// data-validate-url) answers the faults, where each input's are shown and the Summa: the script works out no
// amount and no fault's place itself, so it cannot disagree with the claim that is sent.
(function () {
  "use strict";

  var form = document.querySelector("form[data-claim-form]");
  if (!form) {
    return;
  }
  var PARTIAL_HEADER = "X-Claim-Partial";
  var VALIDATE_DELAY_MS = 600;
  var canFetch = Boolean(window.fetch && window.FormData);
  var linesBox = form.querySelector("[data-claim-lines]");
  var status = document.getElementById("claim-lines-status");
  var validateUrl = form.getAttribute("data-validate-url");
  var sending = false;
  var bypass = false;
  var touched = {};
  var validateTimer = null;
  var validateRound = 0;

  function each(list, callback) {
    for (var i = 0; i < list.length; i++) {
      callback(list[i], i);
    }
  }

  function showPriorAssessmentUse(html) {
    // The server renders the FHB meter (Godkänt · Fakturerat · Kvar) for the FHB chosen now; empty: none.
    var box = form.querySelector("[data-fhb-use]");
    if (box && typeof html === "string" && box.innerHTML !== html) {
      box.innerHTML = html;
    }
  }

  function showTotal(text) {
    var total = form.querySelector("[data-claim-total]");
    // No text while a patient fee typed cannot be read: the last Summa stays until it can.
    if (total && text) {
      total.textContent = text;
    }
  }

  // What the chosen code and support form need -----------------------------------------------------------------

  function chosenCode() {
    var input = form.querySelector("[name='entry-code']");
    var list = document.getElementById("tariff-codes");
    if (!input || !list) {
      return null;
    }
    var code = (input.value.trim().split(/\s+/)[0] || "").toLowerCase();
    var found = null;
    each(list.querySelectorAll("option"), function (option) {
      if (!found && option.value.toLowerCase() === code) {
        found = option;
      }
    });
    return found;
  }

  function showEntryField(name, needed) {
    var wrapper = form.querySelector("[data-entry-field='" + name + "']");
    if (!wrapper) {
      return;
    }
    var control = wrapper.querySelector("input, select");
    // A value typed or a fault shown stays in sight, so that nothing sent is hidden.
    wrapper.hidden = !(needed || (control && control.value) || wrapper.querySelector(".errorlist"));
  }

  function applyCode() {
    var option = chosenCode();
    var requires = option ? option.getAttribute("data-requires") : "";
    showEntryField("tooth", requires === "tooth");
    showEntryField("jaw", requires === "jaw");
    showEntryField("price", Boolean(option) && option.getAttribute("data-price-entered") === "1");
  }

  function applySupportForm() {
    var checked = form.querySelector("input[name='support_form']:checked");
    var chosen = checked ? checked.value : "";
    each(form.querySelectorAll("[data-support-form-only]"), function (wrapper) {
      wrapper.hidden = chosen !== wrapper.getAttribute("data-support-form-only");
    });
    var select = form.querySelector("select[name='patient_category']");
    if (!select) {
      return;
    }
    each(select.querySelectorAll("option[data-support-form]"), function (option) {
      var other = Boolean(chosen) && option.getAttribute("data-support-form") !== chosen;
      option.hidden = other;
      option.disabled = other;
    });
    each(select.querySelectorAll("optgroup"), function (group) {
      group.hidden = !group.querySelector("option:not([disabled])");
    });
    if (select.selectedIndex > 0 && select.options[select.selectedIndex].disabled) {
      select.value = "";
    }
  }

  function applyFreeCard() {
    each(form.querySelectorAll("[data-show-when-checked]"), function (wrapper) {
      var box = document.getElementById(wrapper.getAttribute("data-show-when-checked"));
      wrapper.hidden = Boolean(box) && !box.checked && !wrapper.querySelector(".errorlist");
    });
  }

  // Faults as the clinic types -------------------------------------------------------------------------------

  function isClaimField(element) {
    var name = element.name || "";
    return (
      name !== "" &&
      name !== "csrfmiddlewaretoken" &&
      name !== "draft" &&
      name !== "lines" &&
      name !== "personal_identity_number" &&
      name.indexOf("entry-") !== 0
    );
  }

  // Where a fault of the target is written, and what is marked as in error: a line's or a visit's fee row
  // (the text goes under the Åtgärd cell), the support-form group, or the field.
  function placeOf(target) {
    var element = document.getElementById(target);
    if (!element) {
      return null;
    }
    var row = element.tagName === "TR" ? element : element.closest("tr.claim-line");
    if (row) {
      return { slot: row.cells[1], mark: row, markClass: "claim-line--error", element: element };
    }
    var slot = element.closest("fieldset.support-forms") || element.closest(".field");
    return slot ? { slot: slot, mark: slot, markClass: "field--error", element: element } : null;
  }

  function describedBy(control, id, add) {
    var ids = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (value) {
      // Drop references to error lists that are gone, and this one (added again below when it has faults).
      return value && value !== id && document.getElementById(value);
    });
    if (add) {
      ids.push(id);
    }
    if (ids.length) {
      control.setAttribute("aria-describedby", ids.join(" "));
    } else {
      control.removeAttribute("aria-describedby");
    }
  }

  function showFault(target, messages) {
    var place = placeOf(target);
    if (!place) {
      return;
    }
    var id = target + "_live_error";
    // The answer is newer than what the server showed after the last send: it replaces it.
    each(place.slot.querySelectorAll(".errorlist"), function (list) {
      list.parentNode.removeChild(list);
    });
    if (messages.length) {
      var list = document.createElement("ul");
      list.className = "errorlist";
      list.id = id;
      each(messages, function (message) {
        var item = document.createElement("li");
        item.textContent = message;
        list.appendChild(item);
      });
      place.slot.appendChild(list);
    }
    var controls = [];
    if (place.element.type === "radio") {
      controls = place.slot.querySelectorAll("input[type='radio']");
    } else if (place.element.tagName !== "TR") {
      controls = [place.element];
    }
    each(controls, function (control) {
      if (messages.length) {
        control.setAttribute("aria-invalid", "true");
      } else {
        control.removeAttribute("aria-invalid");
      }
      describedBy(control, id, messages.length > 0);
    });
    place.mark.classList.toggle(place.markClass, messages.length > 0);
  }

  function showFaults(answer) {
    var byTarget = {};
    each(answer.faults || [], function (fault) {
      if (fault.target) {
        (byTarget[fault.target] = byTarget[fault.target] || []).push(fault.message);
      }
    });
    // The lines were sent by the clinic: their faults always show. Inputs show theirs once changed, at the
    // place the server names for each.
    var shown = {};
    each(form.querySelectorAll("tr[id^='line-']"), function (row) {
      shown[row.id] = true;
    });
    var targets = answer.targets || {};
    Object.keys(touched).forEach(function (name) {
      if (targets[name]) {
        shown[targets[name]] = true;
      }
    });
    Object.keys(shown).forEach(function (target) {
      showFault(target, byTarget[target] || []);
    });
  }

  function validateNow() {
    if (!validateUrl || !canFetch) {
      return;
    }
    var round = ++validateRound;
    fetch(validateUrl, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (answer) {
        if (answer && round === validateRound) {
          showFaults(answer);
          showTotal(answer.total);
          showPriorAssessmentUse(answer.prior_assessment_use);
        }
      })
      .catch(function () {
        // No answer now; the faults are shown when the claim is sent anyway.
      });
  }

  function scheduleValidate() {
    window.clearTimeout(validateTimer);
    validateTimer = window.setTimeout(validateNow, VALIDATE_DELAY_MS);
  }

  // Lines without reloading ---------------------------------------------------------------------------------

  function announce(message) {
    if (!status) {
      return;
    }
    status.textContent = "";
    // A changed text is what a screen reader announces: empty first, then the message.
    window.setTimeout(function () {
      status.textContent = message;
    }, 50);
  }

  function afterLinesChanged(added) {
    var root = linesBox.querySelector("[data-announce]");
    var invalid = linesBox.querySelector("[data-entry] [aria-invalid='true']");
    applyCode();
    if (invalid) {
      invalid.focus();
    } else if (added) {
      var code = linesBox.querySelector("[name='entry-code']");
      if (code) {
        code.focus();
      }
    } else {
      var table = linesBox.querySelector("#claim-lines-table");
      if (table) {
        table.focus();
      }
    }
    announce(root ? root.getAttribute("data-announce") : "");
    scheduleValidate();
  }

  function sendTheOrdinaryWay(submitter) {
    bypass = true;
    if (form.requestSubmit) {
      form.requestSubmit(submitter);
    } else {
      submitter.click();
    }
  }

  function updateLines(submitter) {
    var data = new FormData(form);
    data.append(submitter.name, submitter.value);
    var headers = {};
    headers[PARTIAL_HEADER] = "lines";
    linesBox.setAttribute("aria-busy", "true");
    fetch(form.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin", headers: headers })
      .then(function (response) {
        if (!response.ok || response.headers.get(PARTIAL_HEADER) !== "lines") {
          throw new Error("no lines part: " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        linesBox.innerHTML = html;
        linesBox.removeAttribute("aria-busy");
        afterLinesChanged(submitter.hasAttribute("data-add-line"));
      })
      .catch(function () {
        // The server renders the whole page instead (it asks for Sök person first, for one).
        linesBox.removeAttribute("aria-busy");
        sendTheOrdinaryWay(submitter);
      });
  }

  // Events -----------------------------------------------------------------------------------------------

  form.addEventListener("submit", function (event) {
    if (bypass) {
      bypass = false;
      return;
    }
    var submitter = event.submitter || null;
    if (submitter && submitter.hasAttribute("data-submit-once")) {
      if (sending) {
        event.preventDefault();
        return;
      }
      sending = true;
      // Disabled after this turn, so that the button's name and value still go with the form.
      window.setTimeout(function () {
        submitter.disabled = true;
      }, 0);
      return;
    }
    var linesButton = submitter && (submitter.hasAttribute("data-add-line") || submitter.name === "remove_line");
    if (canFetch && linesBox && linesButton) {
      event.preventDefault();
      updateLines(submitter);
    }
  });

  form.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key !== "Enter" || !target.name || target.tagName === "TEXTAREA" || target.tagName === "BUTTON") {
      return;
    }
    if (target.name.indexOf("entry-") === 0) {
      // Enter in the entry row adds the line, as "Lägg till åtgärd" does.
      event.preventDefault();
      var add = form.querySelector("[data-add-line]");
      if (add) {
        add.click();
      }
    } else if (target.name !== "personal_identity_number") {
      // Elsewhere Enter would press the first button, Sök person: nothing is sent by accident.
      event.preventDefault();
      validateNow();
    }
  });

  function onEdit(event) {
    var target = event.target;
    if (!target.name) {
      return;
    }
    if (target.name === "entry-code") {
      applyCode();
    } else if (target.name === "support_form") {
      applySupportForm();
    } else if (target.name === "has_free_card") {
      applyFreeCard();
    }
    if (isClaimField(target)) {
      touched[target.name] = true;
      scheduleValidate();
    }
  }

  form.addEventListener("input", onEdit);
  form.addEventListener("change", onEdit);

  // Coming back to the page from the browser's history: the send button works again.
  window.addEventListener("pageshow", function () {
    sending = false;
    each(form.querySelectorAll("[data-submit-once]"), function (button) {
      button.disabled = false;
    });
  });

  applyCode();
  applySupportForm();
  applyFreeCard();
  // After a refused send the page opens on its list of faults, each a link to its place.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
})();
