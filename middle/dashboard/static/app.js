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

// The review of a branch (issue 26): click a new-side line number to comment on it, expand
// folded context, and the keys j/k (next/previous file), r (the review box), a (approve,
// after a confirm). The comment form is the server's <template>; the path and line go in
// through .value, never as HTML.
(function () {
  "use strict";
  var current = -1;

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function openComment(cell) {
    var row = cell.parentElement;
    var file = row.closest(".diff-file");
    var block = row.closest("[data-review]");
    var template = block && block.querySelector("template.comment-form");
    if (!file || !template) return;
    var next = row.nextElementSibling;
    if (next && next.classList.contains("comment-form-row")) {
      next.querySelector("textarea").focus();
      return;
    }
    var fresh = template.content.firstElementChild.cloneNode(true);
    var where = file.dataset.path + ":" + row.dataset.line;
    fresh.querySelector("input[name=path]").value = file.dataset.path;
    fresh.querySelector("input[name=line]").value = row.dataset.line;
    fresh.querySelector(".where").textContent = where;
    fresh.querySelector("textarea").setAttribute("aria-label", "Comment on " + where);
    row.after(fresh);
    fresh.querySelector("textarea").focus();
  }

  document.addEventListener("click", function (e) {
    var target = e.target;
    var cell = target.closest && target.closest("[data-review] tr[data-line] td.ln-new");
    if (cell) return openComment(cell);
    if (target.matches && target.matches("[data-review] button.expand")) {
      var fold = target.closest("tbody.fold");
      var hidden = fold.nextElementSibling;
      if (hidden) hidden.hidden = false;
      fold.remove();
      return;
    }
    if (target.matches && target.matches("tr.comment-form-row button.cancel")) {
      target.closest("tr.comment-form-row").remove();
    }
  });

  document.addEventListener("submit", function (e) {
    if (e.target.closest && e.target.closest("[data-review]")) {
      sessionStorage.setItem("middle-scroll", location.pathname + " " + window.scrollY);
    }
  });
  var kept = (sessionStorage.getItem("middle-scroll") || "").split(" ");
  sessionStorage.removeItem("middle-scroll");
  if (kept[0] === location.pathname && kept[1]) window.scrollTo(0, Number(kept[1]));

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    var files = document.querySelectorAll("[data-review] .diff-file");
    // On the home page each run's card holds its own review form: the current file's.
    var scope = (files[current] && files[current].closest("article.review")) || document;
    if (e.key === "j" || e.key === "k") {
      if (!files.length) return;
      current = Math.max(0, Math.min(files.length - 1, current + (e.key === "j" ? 1 : -1)));
      files[current].focus();
      files[current].scrollIntoView({ block: "start" });
      document.body.dataset.file = files[current].dataset.path;
    } else if (e.key === "r") {
      var box = scope.querySelector("form.review textarea.review-box");
      if (box) { e.preventDefault(); box.focus(); }
    } else if (e.key === "a") {
      var approve = scope.querySelector("form.review button[value=approve]");
      if (approve && window.confirm("Approve this branch? The agent's work is accepted as it is.")) {
        approve.click();
      }
    }
  });
})();
