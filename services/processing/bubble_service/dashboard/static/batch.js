// A batch page's live progress: the counters follow the batch's row (server-sent events).
(function () {
  "use strict";
  var section = document.getElementById("progress");
  if (!section || !window.EventSource) {
    return;
  }
  var live = section.querySelector('[data-field="live"]');
  var bar = section.querySelector("progress");
  var source = new EventSource(section.getAttribute("data-progress-url"));

  source.onmessage = function (event) {
    var progress = JSON.parse(event.data);
    Object.keys(progress).forEach(function (name) {
      var field = section.querySelector('[data-field="' + name + '"]');
      if (field) {
        field.textContent = name === "state" ? String(progress[name]).toLowerCase() : progress[name];
      }
    });
    bar.max = progress.total || 1;
    bar.value = progress.finished;
  };
  source.addEventListener("end", function () {
    source.close();
    live.textContent = "Final.";
    refreshMembers();
  });

  // The members' final counts, from this page as the server renders it now.
  function refreshMembers() {
    var shown = document.querySelector("table.members tbody");
    if (!shown) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        return response.ok ? response.text() : Promise.reject(response.status);
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var rows = fresh.querySelector("table.members tbody");
        if (rows) {
          shown.replaceWith(rows);
        }
      })
      .catch(function () {});
  }
  source.addEventListener("gone", function () {
    source.close();
    live.textContent = "This batch no longer exists.";
  });
  source.onerror = function () {
    if (source.readyState === EventSource.CONNECTING) {
      live.textContent = "Reconnecting...";
    }
  };
  source.onopen = function () {
    live.textContent = "Updating live.";
  };
})();
