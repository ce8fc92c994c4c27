// Client-side filters of the catalogue table. The filter state lives in the URL query
// (?gpu=MI355X&count=4...) so a filtered view can be shared; nothing is fetched.
(function () {
  "use strict";
  var FIELDS = ["gpu", "count", "precision", "backend", "family", "q"];
  var STATUSES = ["tuned", "derived", "generic"];

  function state(form) {
    var s = {};
    FIELDS.forEach(function (name) { s[name] = (form.elements[name].value || "").trim(); });
    return s;
  }

  // The text filter matches words in any order: every word of the query is somewhere in the
  // row's id, name, family or size ("llama 70b", "qwen3 32b").
  function words(text) {
    return text.toLowerCase().split(/[\s,]+/).filter(function (w) { return w; });
  }

  function matches(row, s) {
    var plans = JSON.parse(row.getAttribute("data-plans") || "{}");  // GPU type -> fewest GPUs a plan needs
    var limit = s.count ? parseInt(s.count, 10) : Infinity;
    var types = s.gpu ? [s.gpu] : Object.keys(plans);
    var runs = types.some(function (t) { return plans[t] !== undefined && plans[t] <= limit; });
    if ((s.gpu || s.count) && !runs) return false;
    if (s.precision && row.getAttribute("data-precisions").split(" ").indexOf(s.precision) < 0) return false;
    if (s.backend && row.getAttribute("data-backends").split(" ").indexOf(s.backend) < 0) return false;
    if (s.family && row.getAttribute("data-family") !== s.family) return false;
    var text = row.getAttribute("data-text");
    if (!words(s.q).every(function (w) { return text.indexOf(w) >= 0; })) return false;
    return true;
  }

  function apply(form, table, counter) {
    var s = state(form);
    var shown = 0, by = {};
    table.classList.toggle("aim-gpu-chosen", !!s.gpu);
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var ok = matches(row, s);
      row.hidden = !ok;
      var cell = row.querySelector("td.aim-on-gpu");
      if (s.gpu) {
        // status -> fewest GPUs a plan of that status needs here: the best status within the count
        var byStatus = JSON.parse(row.getAttribute("data-status") || "{}")[s.gpu] || {};
        var limit = s.count ? parseInt(s.count, 10) : Infinity;
        var status = STATUSES.filter(function (w) { return byStatus[w] !== undefined && byStatus[w] <= limit; })[0];
        var fewest = status ? byStatus[status] : undefined;
        cell.textContent = status ? status + " (" + fewest + "+ GPUs)" : "no plan";
        cell.className = "aim-on-gpu aim-" + (status || "not-supported");
        if (ok) by[status] = (by[status] || 0) + 1;
      } else {
        cell.textContent = "";
        cell.className = "aim-on-gpu";
      }
      if (ok) shown += 1;
    });
    var total = table.tBodies[0].rows.length;
    var text = shown + " of " + total + " models";
    if (s.gpu) {
      text += " have a plan on " + s.gpu + (s.count ? " with at most " + s.count + " GPUs" : "") + ": ";
      text += STATUSES.map(function (w) { return (by[w] || 0) + " " + w; }).join(", ");
      if (shown && !by.tuned) text += " (no recipe is tuned for " + s.gpu + " among them)";
    }
    counter.textContent = text;
    var params = new URLSearchParams();
    FIELDS.forEach(function (name) { if (s[name]) params.set(name, s[name]); });
    var query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
  }

  function init() {
    var form = document.getElementById("aim-filters");
    var table = document.getElementById("aim-catalogue");
    var counter = document.getElementById("aim-count");
    if (!form || !table || !counter) return;  // not the catalogue page
    var params = new URLSearchParams(location.search);
    FIELDS.forEach(function (name) {
      var value = params.get(name);
      if (value !== null) form.elements[name].value = value;
    });
    form.addEventListener("input", function () { apply(form, table, counter); });
    form.addEventListener("change", function () { apply(form, table, counter); });
    apply(form, table, counter);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
