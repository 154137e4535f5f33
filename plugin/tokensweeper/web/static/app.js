/* Token Sweeper: optional enhancements. Every action works without this file. */
(function () {
  "use strict";
  var root = document.getElementById("tokensweeper");
  if (!root) { return; }
  root.className += " ts-js";

  /* Revoke once: the pressed button says it is at work and cannot be pressed again. (A second
     press without JavaScript is safe too: the server shows the first run's result.) */
  var confirmForm = document.getElementById("ts-confirm");
  if (confirmForm) {
    var revokeButton = confirmForm.querySelector("button[type='submit']");
    var revokeText = revokeButton.textContent;
    confirmForm.addEventListener("submit", function () {
      revokeButton.disabled = true;
      revokeButton.textContent = revokeButton.getAttribute("data-busy");
    });
    /* Back from the result restores this page as it was left: make the button usable. */
    window.addEventListener("pageshow", function () {
      revokeButton.disabled = false;
      revokeButton.textContent = revokeText;
    });
  }

  var table = document.getElementById("ts-tokens");
  var form = document.getElementById("ts-selection");
  if (!table || !form) { return; }

  var boxes = function () {
    return Array.prototype.slice.call(table.querySelectorAll("tbody input[name='t']"));
  };
  var shown = function (box) {
    return !box.closest("tr").hidden;
  };
  var previewButton = form.querySelector("button[type='submit']");
  var previewText = previewButton.textContent;

  /* "Select all shown": a real, labelled checkbox in the header. */
  var head = table.querySelector("thead .ts-col-select");
  var all = document.createElement("input");
  all.type = "checkbox";
  all.id = "ts-select-all";
  all.setAttribute("aria-label", "Select all shown tokens");
  head.innerHTML = "";
  head.appendChild(all);

  /* A polite live region: screen readers hear how many tokens are selected (WCAG 4.1.3).
     It exists, empty, from the start: a region added with its text is not announced. */
  var announcer = document.createElement("p");
  announcer.id = "ts-selection-status";
  announcer.className = "ts-visually-hidden";
  announcer.setAttribute("role", "status");
  announcer.setAttribute("aria-live", "polite");
  form.appendChild(announcer);

  function refresh(quietly) {
    var visible = boxes().filter(shown);
    var ticked = boxes().filter(function (box) { return box.checked; });
    var tickedVisible = visible.filter(function (box) { return box.checked; });
    all.checked = visible.length > 0 && tickedVisible.length === visible.length;
    all.indeterminate = tickedVisible.length > 0 && tickedVisible.length < visible.length;
    previewButton.textContent = ticked.length ? previewText + " (" + ticked.length + ")" : previewText;
    if (!quietly) {
      announcer.textContent = (ticked.length === 1 ? "1 token" : ticked.length + " tokens") + " selected";
    }
    /* Nothing ticked, nothing to preview (without JavaScript the server says so). */
    previewButton.disabled = ticked.length === 0;
    previewButton.title = ticked.length ? "" : "Tick the tokens to revoke first";
    /* The sticky bar keeps the count and the action in view while scrolling. */
    if (bar) {
      var hiddenTicked = ticked.length - tickedVisible.length;
      bar.hidden = ticked.length === 0;
      barCount.textContent = ticked.length + " selected" +
        (hiddenTicked ? " (" + hiddenTicked + " hidden by the name filter)" : "");
    }
  }

  var bar = document.getElementById("ts-selbar");
  var barCount = document.getElementById("ts-selbar-count");
  var clear = document.getElementById("ts-selbar-clear");
  if (clear) {
    clear.addEventListener("click", function () {
      boxes().forEach(function (box) { box.checked = false; });
      refresh();
      all.focus();
    });
  }

  all.addEventListener("change", function () {
    boxes().filter(shown).forEach(function (box) { box.checked = all.checked; });
    refresh();
  });
  table.addEventListener("change", function (event) {
    if (event.target.name === "t") { refresh(); }
  });

  /* Live filter by name while typing; the Filter button still asks the server. */
  var search = document.querySelector("[data-live-filter]");
  var status = document.getElementById("ts-matching");
  /* "Select all N matching" counts the server's filter: hide it while the live text differs. */
  var matching = form.querySelector("button[name='scope']");
  var serverText = search ? search.value.trim() : "";
  if (search) {
    search.addEventListener("input", function () {
      var text = search.value.trim().toLowerCase();
      if (matching) { matching.hidden = search.value.trim() !== serverText; }
      var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
      var count = 0;
      rows.forEach(function (row) {
        var match = !text || row.getAttribute("data-name").indexOf(text) !== -1;
        row.hidden = !match;
        /* A hidden row keeps its tick: the bar says how many ticked tokens are hidden. */
        if (match) { count += 1; }
      });
      if (status) {
        status.textContent = "Showing " + count + " of " + rows.length + " token" + (rows.length === 1 ? "" : "s") +
          " on this page whose name contains \u201c" + search.value.trim() + "\u201d.";
      }
      refresh();
    });
  }
  refresh(true);
  /* Back to this page: the browser may restore ticks after this script ran. */
  window.addEventListener("pageshow", function () { refresh(true); });
}());
