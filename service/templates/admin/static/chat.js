// The chat panel's replies as they come: the message form is sent to .../messages/stream and the
// agent's decision, text and citations are shown while the server-sent events arrive; then the page
// reloads to the stored turn (the whole record, with the reasons). Without fetch streams, or when the
// server refuses the message (JSON with a status), the form is sent as plain HTML instead, so the
// problem shows by its field and nothing typed is lost.
(function () {
  "use strict";
  var form = document.querySelector("form.message");
  var list = document.querySelector("ol.transcript.chat");
  if (!form || !window.fetch || !window.ReadableStream || !window.TextDecoder) { return; }

  function item(role, label) {
    var li = document.createElement("li");
    li.className = role + " live";
    var b = document.createElement("b");
    b.textContent = label;
    li.appendChild(b);
    li.appendChild(document.createElement("br"));
    var text = document.createElement("span");
    text.className = "text";
    li.appendChild(text);
    if (!list) {
      list = document.createElement("ol");
      list.className = "transcript chat";
      var empty = document.querySelector("p.empty");
      form.parentNode.insertBefore(list, empty || form);
      if (empty) { empty.remove(); }
    }
    list.appendChild(li);
    return li;
  }

  function shown(li, line) {
    var p = document.createElement("p");
    p.className = "hint";
    p.textContent = line;
    li.appendChild(p);
  }

  function parse(block) {
    var name = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) { name = line.slice(6).trim(); }
      if (line.indexOf("data:") === 0) { data += line.slice(5).trim(); }
    });
    return {name: name, data: data ? JSON.parse(data) : {}};
  }

  form.addEventListener("submit", function (ev) {
    var field = form.querySelector("textarea[name=text]");
    if (!field || !field.value.trim()) { return; }  // the server's own message by the field
    ev.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    var body = new URLSearchParams(new FormData(form));
    var url = form.getAttribute("action") + "/stream";
    var customer = null, agent = null, messageId = null;
    fetch(url, {method: "POST", body: body, credentials: "same-origin",
                headers: {"Accept": "text/event-stream"}})
      .then(function (r) {
        var type = r.headers.get("Content-Type") || "";
        if (!r.ok || type.indexOf("text/event-stream") !== 0 || !r.body) {
          form.submit();  // the plain form: the server answers with the page and the problem by the field
          return null;
        }
        customer = item("customer", "customer");
        customer.querySelector(".text").textContent = field.value;
        agent = item("agent", "agent");
        agent.setAttribute("aria-live", "polite");
        agent.setAttribute("aria-busy", "true");
        var reader = r.body.getReader(), decoder = new TextDecoder(), pending = "";
        function handle(e) {
          if (e.name === "decision") {
            messageId = e.data.message_id;
            agent.dataset.action = e.data.action;
            shown(agent, e.data.action.replace(/_/g, " ") + " · confidence " + Number(e.data.confidence).toFixed(2));
          } else if (e.name === "text") {
            agent.querySelector(".text").textContent += e.data.delta;
          } else if (e.name === "citations") {
            var n = (e.data.citations || []).length;
            shown(agent, n ? "citing " + e.data.citations.map(function (c) {
              return c.title || c.document_id; }).join(", ") : "no citation");
          } else if (e.name === "done") {
            messageId = e.data.message_id;
          }
        }
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { return; }
            pending += decoder.decode(chunk.value, {stream: true});
            var blocks = pending.split("\n\n");
            pending = blocks.pop();
            blocks.forEach(function (block) { if (block.trim()) { handle(parse(block)); } });
            return pump();
          });
        }
        return pump();
      })
      .then(function (result) {
        if (result === null) { return; }
        // the turn was stored whole before the first event: show the stored record
        var here = location.pathname + location.search + (messageId ? "#message-" + messageId : "");
        history.replaceState(null, "", here);
        location.reload();
      })
      .catch(function () {
        if (agent) { location.reload(); } else { form.submit(); }
      });
  });
}());
