// llmbench view: live progress for runs still going (polls the progress endpoint named by
// each element's data-progress, once a second, until the run stops). Everything else is
// plain links and forms.
(function () {
  "use strict";
  function update(node, data) {
    var fields = node.querySelectorAll("[data-field]");
    for (var i = 0; i < fields.length; i++) {
      var name = fields[i].getAttribute("data-field");
      if (Object.prototype.hasOwnProperty.call(data, name)) {
        fields[i].textContent = String(data[name]);
      }
    }
    node.setAttribute("data-status", data.status);
    node.setAttribute("data-recorded", String(data.recorded));
  }
  function poll(node) {
    fetch(node.getAttribute("data-progress"), { cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        update(node, data);
        var polls = Number(node.getAttribute("data-polls") || "0") + 1;
        node.setAttribute("data-polls", String(polls));
        if (data.status === "running") {
          setTimeout(function () { poll(node); }, 1000);
        }
      })
      .catch(function () {
        setTimeout(function () { poll(node); }, 3000);
      });
  }
  var nodes = document.querySelectorAll("[data-progress]");
  for (var i = 0; i < nodes.length; i++) {
    if (nodes[i].getAttribute("data-status") === "running") {
      setTimeout(poll.bind(null, nodes[i]), 1000);
    }
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
