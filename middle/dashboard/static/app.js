// middle dashboard: one EventSource; on each event, refresh the page's [data-live] regions
// from the server-rendered page (no client templates), and prepend to the activity feed.
// Text from the server only ever reaches the DOM through textContent or server-escaped HTML.
(function () {
  "use strict";
  var timer = null;
  var lastRefresh = 0;
  var MIN_GAP = 400; // ms between page refreshes, however busy the event stream is
  var seen = (window.middleSeen = {});

  function busy(region) {
    var active = document.activeElement;
    if (active && region.contains(active) && active.tagName === "TEXTAREA") return true;
    var areas = region.querySelectorAll("textarea");
    for (var i = 0; i < areas.length; i++) if (areas[i].value) return true;
    return false;
  }

  function refresh() {
    timer = null;
    lastRefresh = Date.now();
    fetch(location.pathname + location.search, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (region) {
          if (busy(region)) return;
          var fresh = doc.getElementById(region.id);
          if (fresh) region.replaceWith(document.importNode(fresh, true));
        });
        document.body.dataset.refreshed = String(Date.now());
      })
      .catch(function () {});
  }

  function schedule() {
    if (!timer) timer = setTimeout(refresh, Math.max(50, MIN_GAP - (Date.now() - lastRefresh)));
  }

  function addToFeed(ev) {
    var feed = document.getElementById("feed");
    if (!feed) return;
    var li = document.createElement("li");
    li.dataset.eventId = String(ev.id);
    [["ts", (ev.ts || "").slice(11, 19)], ["ref", ev.ref || "-"], ["type", ev.type], ["summary", ev.summary || ""]]
      .forEach(function (part) {
        var span = document.createElement("span");
        span.className = part[0];
        span.textContent = part[1];
        li.appendChild(span);
        li.appendChild(document.createTextNode(" "));
      });
    feed.prepend(li);
    while (feed.children.length > 200) feed.removeChild(feed.lastChild);
  }

  var status = document.getElementById("live-status");
  var source = new EventSource("/events");
  source.addEventListener("open", function () {
    document.body.dataset.sse = "open";
    if (status) status.textContent = "live";
  });
  source.addEventListener("error", function () {
    document.body.dataset.sse = "reconnecting";
    if (status) status.textContent = "reconnecting…";
  });
  source.addEventListener("hello", function () { document.body.dataset.sse = "open"; });
  source.addEventListener("event", function (e) {
    var ev = JSON.parse(e.data);
    seen[ev.id] = Date.now();
    document.body.dataset.lastEvent = String(ev.id);
    addToFeed(ev);
    schedule();
  });
  source.addEventListener("changed", schedule);
})();
