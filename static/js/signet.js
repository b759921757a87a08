/* Signet portal behaviour: progressive enhancement only (every page works without it).
 *
 *  - Copy buttons: <button data-copy="text"> or <button data-copy-target="element-id">,
 *    rendered `hidden` and revealed here, since without script they cannot work.
 *  - Confirmations: <form data-confirm="question"> asks before submitting.
 *  - The tenant switcher (<details class="switcher">) closes on Escape or a click outside.
 *  - After a refused form, focus moves to the first field in error.
 * No inline script anywhere: the CSP is script-src 'self'.
 */
(function () {
  "use strict";

  function announce(text) {
    var region = document.getElementById("live-region");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function textToCopy(button) {
    if (button.hasAttribute("data-copy")) return button.getAttribute("data-copy");
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) return "";
    return "value" in target && target.tagName !== "BUTTON" ? target.value : target.textContent.trim();
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function copied(button, ok) {
    if (button.signetLabel === undefined) button.signetLabel = button.innerHTML;
    window.clearTimeout(button.signetTimer);
    button.textContent = ok ? "Copied" : "Press Ctrl+C";
    if (ok) button.setAttribute("data-copied", "");
    announce(ok ? "Copied to the clipboard." : "Copy failed: select the text and press Ctrl+C.");
    button.signetTimer = window.setTimeout(function () {
      button.innerHTML = button.signetLabel;
      button.removeAttribute("data-copied");
    }, 2000);
  }

  function onCopy(event) {
    var button = event.currentTarget;
    var text = textToCopy(button);
    if (!text) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, fallbackCopy(text)); }
      );
    } else {
      copied(button, fallbackCopy(text));
    }
  }

  function setUpCopy() {
    var buttons = document.querySelectorAll("[data-copy], [data-copy-target]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.hidden = false;
      button.addEventListener("click", onCopy);
    });
  }

  function setUpConfirm() {
    var forms = document.querySelectorAll("form[data-confirm]");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  function setUpSwitcher() {
    var switchers = document.querySelectorAll("details.switcher");
    Array.prototype.forEach.call(switchers, function (details) {
      details.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && details.open) {
          details.open = false;
          details.querySelector("summary").focus();
        }
      });
    });
    document.addEventListener("click", function (event) {
      Array.prototype.forEach.call(switchers, function (details) {
        if (details.open && !details.contains(event.target)) details.open = false;
      });
    });
  }

  // After a refused form, take keyboard and screen-reader users to the first field in error.
  function focusFirstError() {
    var field = document.querySelector("main [aria-invalid='true']");
    if (field) field.focus();
  }

  function start() {
    focusFirstError();
    setUpCopy();
    setUpConfirm();
    setUpSwitcher();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
