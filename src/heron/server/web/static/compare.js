// Compare: the baseline and candidate inputs suggest the values of the column typed in "Column".
(function () {
  "use strict";
  var field = document.getElementById("field");
  if (!field) return;
  field.addEventListener("input", function () {
    var list = document.getElementById("compare-values-" + field.value);
    document.querySelectorAll("[data-values-for=field]").forEach(function (input) {
      if (list) input.setAttribute("list", list.id); else input.removeAttribute("list");
    });
  });
})();
