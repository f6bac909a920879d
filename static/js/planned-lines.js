// Begär förhandsbedömning: "Lägg till rad" adds an empty planned line without reloading the page.
// Without this script the button posts the form and the server answers with one line more, keeping what was typed.
(function () {
  "use strict";

  var table = document.querySelector("[data-planned-lines]");
  var button = document.querySelector("[data-add-planned-line]");
  var total = document.querySelector("input[name='lines-TOTAL_FORMS']");
  var maximum = document.querySelector("input[name='lines-MAX_NUM_FORMS']");
  var status = document.querySelector("[data-planned-lines-status]");
  if (!table || !button || !total) {
    return;
  }

  function renumber(element, from, to) {
    var pattern = new RegExp("lines-" + from + "-", "g");
    ["id", "name", "for", "aria-describedby"].forEach(function (attribute) {
      var value = element.getAttribute(attribute);
      if (value) {
        element.setAttribute(attribute, value.replace(pattern, "lines-" + to + "-"));
      }
    });
  }

  button.addEventListener("click", function (event) {
    var rows = table.querySelectorAll("[data-planned-line]");
    var count = parseInt(total.value, 10) || rows.length;
    if (!rows.length || (maximum && count >= parseInt(maximum.value, 10))) {
      return; // the server says what it can
    }
    event.preventDefault();
    var last = rows[rows.length - 1];
    var row = last.cloneNode(true);
    var from = count - 1;
    row.querySelectorAll("*").forEach(function (element) {
      renumber(element, from, count);
    });
    row.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
    });
    row.querySelectorAll("select").forEach(function (select) {
      select.selectedIndex = 0;
    });
    row.querySelectorAll(".errorlist").forEach(function (list) {
      list.parentNode.removeChild(list);
    });
    row.querySelectorAll(".field--error").forEach(function (cell) {
      cell.classList.remove("field--error");
    });
    row.querySelectorAll("[data-line-number]").forEach(function (number) {
      number.textContent = String(count + 1);
    });
    last.parentNode.appendChild(row);
    total.value = String(count + 1);
    var first = row.querySelector("input, select");
    if (first) {
      first.focus();
    }
    if (status) {
      status.textContent = button.getAttribute("data-added") || "";
    }
  });
})();
