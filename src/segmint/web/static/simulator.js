// The cart simulator: "Add a line" adds an empty row to the lines table in the page
// instead of submitting the form (without script, the button asks the server for the form
// with one more row). The rows are repeated sku / quantity / unit_price fields, so a new
// row is a copy of the last one, emptied and numbered.
(function () {
  "use strict";

  function addLine(event) {
    var body = document.querySelector("#cart-lines tbody");
    if (!body) {
      return;
    }
    event.preventDefault();
    var rows = body.querySelectorAll("tr.cart-line");
    var row = rows[rows.length - 1].cloneNode(true);
    var number = rows.length + 1;
    row.classList.remove("has-error");
    row.querySelector(".line-number").textContent = String(number);
    row.querySelectorAll("input").forEach(function (input) {
      input.value = input.name === "quantity" ? "1" : "";
      input.removeAttribute("aria-invalid");
      input.classList.remove("invalid");
      input.setAttribute("aria-label", input.getAttribute("data-label") + ", line " + number);
    });
    row.querySelectorAll(".line-problems").forEach(function (cell) {
      cell.textContent = "";
    });
    body.appendChild(row);
    row.querySelector("input[name=sku]").focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("add-line");
    if (button) {
      button.addEventListener("click", addLine);
    }
  });
})();
