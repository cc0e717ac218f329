// The live change feed (server-sent events) and nothing else: every page works without it.
"use strict";
(function () {
  var live = document.getElementById("live");
  var feed = document.getElementById("feed");
  if (!live || !feed || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-stream"));
  source.addEventListener("open", function () { live.textContent = "live"; live.className = "badge fresh"; });
  source.addEventListener("error", function () { live.textContent = "reconnecting…"; live.className = "badge lagging"; });
  source.addEventListener("change", function (message) {
    var e = JSON.parse(message.data);
    if (feed.querySelector('tr[data-id="' + e.id + '"]')) { return; }
    var fields = (e.kind === "updated" || e.kind === "roles_changed") ? Object.keys(e.changes).sort().join(", ") : "";
    var row = document.createElement("tr");
    row.setAttribute("data-id", String(e.id));
    row.className = "new";
    var kind = document.createElement("span");
    kind.className = "kind " + e.kind;
    kind.textContent = e.kind;
    [String(e.id), e.observed_at, e.connection || "", null, e.email || String(e.harvest_id), fields, e.source]
      .forEach(function (text) {
        var cell = document.createElement("td");
        if (text === null) { cell.appendChild(kind); } else { cell.textContent = text; }
        row.appendChild(cell);
      });
    feed.insertBefore(row, feed.firstChild);
  });
})();
