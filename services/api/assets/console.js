// The console's one script, a convenience: a Copy button after each read-only field marked
// `copyable`. Without it the field is still there to select and copy by hand.
"use strict";
document.querySelectorAll("input.copyable").forEach(function (field) {
  var button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = "Copy";
  var label = field.labels && field.labels[0] ? field.labels[0].textContent : "the value";
  button.setAttribute("aria-label", "Copy " + label);
  button.addEventListener("click", function () {
    field.select();
    navigator.clipboard.writeText(field.value).then(
      function () { button.textContent = "Copied"; },
      function () { button.textContent = "Selected: press Ctrl+C"; }
    );
  });
  field.insertAdjacentElement("afterend", button);
});
