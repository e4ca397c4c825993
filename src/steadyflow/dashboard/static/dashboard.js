// steadyflow dashboard: live updates of a flow page (server-sent events) and timeline zoom.
// Served by the dashboard itself; no build step, nothing fetched from elsewhere.
// Fragments arrive as HTML rendered (and escaped) by the server.
(function () {
  "use strict";

  var zoom = 1;
  var MAX_ZOOM = 64;

  function applyZoom() {
    var canvas = document.getElementById("timeline-canvas");
    if (canvas) {
      canvas.style.width = (zoom * 100) + "%";
    }
  }

  function setZoom(next, anchor) {
    var scroller = document.getElementById("timeline-scroll");
    var before = zoom;
    zoom = Math.min(MAX_ZOOM, Math.max(1, next));
    applyZoom();
    if (scroller && anchor !== undefined) {
      // Keep the point under the cursor (or the centre) where it was.
      var x = scroller.scrollLeft + anchor;
      scroller.scrollLeft = x * (zoom / before) - anchor;
    }
    document.body.setAttribute("data-zoom", String(zoom));
  }

  function centre() {
    var scroller = document.getElementById("timeline-scroll");
    return scroller ? scroller.clientWidth / 2 : 0;
  }

  function onZoomButton(event) {
    var kind = event.currentTarget.getAttribute("data-zoom");
    if (kind === "in") { setZoom(zoom * 2, centre()); }
    else if (kind === "out") { setZoom(zoom / 2, centre()); }
    else { setZoom(1, 0); }
  }

  function onWheel(event) {
    if (!event.ctrlKey) { return; }
    var scroller = document.getElementById("timeline-scroll");
    if (!scroller || !scroller.contains(event.target)) { return; }
    event.preventDefault();
    var rect = scroller.getBoundingClientRect();
    setZoom(event.deltaY < 0 ? zoom * 1.25 : zoom / 1.25, event.clientX - rect.left);
  }

  function replaceFragments(fragments) {
    var scroller = document.getElementById("timeline-scroll");
    var scrollLeft = scroller ? scroller.scrollLeft : 0;
    Object.keys(fragments).forEach(function (id) {
      var target = document.getElementById(id);
      if (target) { target.innerHTML = fragments[id]; }
    });
    applyZoom();
    scroller = document.getElementById("timeline-scroll");
    if (scroller) { scroller.scrollLeft = scrollLeft; }
  }

  function follow(flow) {
    var url = flow.getAttribute("data-events");
    var status = document.getElementById("live-status");
    if (!url || !window.EventSource) {
      if (status) { status.textContent = "not available in this browser"; }
      return;
    }
    var source = new EventSource(url);
    var updates = 0;
    source.addEventListener("open", function () {
      if (status) { status.textContent = "following"; }
    });
    source.addEventListener("update", function (event) {
      var data = JSON.parse(event.data);
      replaceFragments(data.fragments);
      updates += 1;
      document.body.setAttribute("data-updates", String(updates));
      if (status) { status.textContent = "following (" + data.state + ")"; }
    });
    source.addEventListener("gone", function () {
      source.close();
      if (status) { status.textContent = "this flow was deleted"; }
    });
    source.addEventListener("error", function () {
      if (status) { status.textContent = "reconnecting\u2026"; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("[data-zoom]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", onZoomButton);
    });
    document.addEventListener("wheel", onWheel, { passive: false });
    var flow = document.getElementById("flow");
    if (flow) { follow(flow); }
  });
})();
