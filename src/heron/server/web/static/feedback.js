// heron feedback.js: user feedback from a customer's web page, sent as heron scores with the
// project's public key alone (docs/feedback.md). No dependencies, no build step.
//
//   <article data-trace-id="TRACE_ID">
//     <div data-heron-answer>...the answer...</div>
//     <button data-heron-accept>Use this answer</button>
//     <div data-heron-feedback></div>
//   </article>
//   <script src="https://heron.example/static/feedback.js" data-host="https://heron.example"
//           data-public-key="pk-hr-..." defer></script>
//
// [data-heron-feedback] gets thumbs up/down, 1-5 stars, a comment box and a Send button: the
// thumbs are the BOOLEAN score data-name (default user_feedback), the stars the NUMERIC score
// data-rating-name (default user_rating), the comment goes on the thumbs score (else on the
// rating). A choice not sent when the page is hidden is sent then. Copying text of a
// [data-heron-answer] sends implicit_copy, clicking a [data-heron-accept] sends
// implicit_accept (BOOLEAN true, once per trace and page). The trace is the nearest
// [data-trace-id] around the element (data-observation-id too, if present). Page data is only
// ever set as text or attribute values, never parsed as HTML.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var host = (script.getAttribute("data-host") || new URL(script.src).origin).replace(/\/+$/, "");
  var publicKey = script.getAttribute("data-public-key") || "";
  var META = { via: "feedback.js" };
  var sentOnce = {};

  function send(score) {
    var body = {
      traceId: score.traceId, name: score.name, value: score.value, dataType: score.dataType,
      source: "API", metadata: META
    };
    if (score.observationId) { body.observationId = score.observationId; }
    if (score.comment) { body.comment = score.comment; }
    return fetch(host + "/api/public/scores", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      keepalive: true,
      headers: {
        "Authorization": "Basic " + btoa(publicKey + ":"),
        "Content-Type": "application/json"
      },
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) { throw new Error("heron answered " + r.status); }
      return r;
    });
  }

  function traceOf(el) {
    var holder = el.closest("[data-trace-id]");
    if (!holder) { return null; }
    var id = holder.getAttribute("data-trace-id");
    return id ? { traceId: id, observationId: holder.getAttribute("data-observation-id") } : null;
  }

  function implicit(el, name) {
    var t = traceOf(el);
    if (!t) { return; }
    var key = name + "\u0000" + t.traceId;
    if (sentOnce[key]) { return; }
    sentOnce[key] = true;
    send({ traceId: t.traceId, observationId: t.observationId, name: name, value: true,
      dataType: "BOOLEAN" }).catch(function () { sentOnce[key] = false; });
  }

  function make(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text) { el.textContent = text; }
    return el;
  }

  function button(cls, text, label) {
    var b = make("button", cls, text);
    b.type = "button";
    b.setAttribute("aria-label", label);
    b.setAttribute("aria-pressed", "false");
    return b;
  }

  var count = 0;

  function widget(root) {
    var t = traceOf(root);
    if (!t || root.getAttribute("data-heron-ready")) { return; }
    root.setAttribute("data-heron-ready", "1");
    var n = ++count;
    var name = root.getAttribute("data-name") || script.getAttribute("data-name") || "user_feedback";
    var ratingName = root.getAttribute("data-rating-name") ||
      script.getAttribute("data-rating-name") || "user_rating";
    var state = { thumbs: null, stars: null, sent: false };

    var box = make("div", "heron-fb");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Feedback on this answer");

    var thumbs = make("div", "heron-fb-thumbs");
    thumbs.setAttribute("role", "group");
    thumbs.setAttribute("aria-label", "Was this helpful?");
    var up = button("heron-fb-up", "\uD83D\uDC4D", "Helpful");
    var down = button("heron-fb-down", "\uD83D\uDC4E", "Not helpful");
    thumbs.appendChild(up);
    thumbs.appendChild(down);

    var stars = make("div", "heron-fb-stars");
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-label", "Rating");
    var starButtons = [];
    for (var i = 1; i <= 5; i++) {
      var s = button("heron-fb-star", "\u2606", "Rate " + i + " of 5");
      s.setAttribute("data-value", String(i));
      starButtons.push(s);
      stars.appendChild(s);
    }

    var label = make("label", "heron-fb-label", "Comment (optional)");
    var comment = make("textarea", "heron-fb-comment");
    comment.id = "heron-fb-comment-" + n;
    comment.rows = 2;
    comment.maxLength = 5000;
    label.htmlFor = comment.id;
    var submit = button("heron-fb-send", "Send feedback", "Send feedback");
    submit.removeAttribute("aria-pressed");
    submit.disabled = true;
    var status = make("p", "heron-fb-status");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");

    function render() {
      up.setAttribute("aria-pressed", String(state.thumbs === true));
      down.setAttribute("aria-pressed", String(state.thumbs === false));
      starButtons.forEach(function (b, k) {
        var on = state.stars !== null && k < state.stars;
        b.textContent = on ? "\u2605" : "\u2606";
        b.setAttribute("aria-pressed", String(state.stars === k + 1));
      });
      submit.disabled = state.sent || (state.thumbs === null && state.stars === null);
    }

    function flush() {
      if (state.sent || (state.thumbs === null && state.stars === null)) {
        return Promise.resolve();
      }
      state.sent = true;
      var text = comment.value.trim();
      var jobs = [];
      if (state.thumbs !== null) {
        jobs.push(send({ traceId: t.traceId, observationId: t.observationId, name: name,
          value: state.thumbs, dataType: "BOOLEAN", comment: text }));
        text = "";
      }
      if (state.stars !== null) {
        jobs.push(send({ traceId: t.traceId, observationId: t.observationId, name: ratingName,
          value: state.stars, dataType: "NUMERIC", comment: text }));
      }
      return Promise.all(jobs);
    }

    up.addEventListener("click", function () { if (!state.sent) { state.thumbs = true; render(); } });
    down.addEventListener("click", function () { if (!state.sent) { state.thumbs = false; render(); } });
    starButtons.forEach(function (b, k) {
      b.addEventListener("click", function () { if (!state.sent) { state.stars = k + 1; render(); } });
    });
    submit.addEventListener("click", function () {
      status.textContent = "Sending\u2026";
      flush().then(function () {
        status.textContent = "Thank you for your feedback.";
        box.setAttribute("data-heron-sent", "1");
        comment.disabled = true;
        render();
      }, function () {
        state.sent = false;
        status.textContent = "Your feedback could not be sent. Please try again.";
        render();
      });
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") { flush().catch(function () {}); }
    });

    box.appendChild(thumbs);
    box.appendChild(stars);
    box.appendChild(label);
    box.appendChild(comment);
    box.appendChild(submit);
    box.appendChild(status);
    root.appendChild(box);
    render();
  }

  function scan() {
    var found = document.querySelectorAll("[data-heron-feedback]");
    for (var i = 0; i < found.length; i++) { widget(found[i]); }
  }

  document.addEventListener("copy", function () {
    var sel = document.getSelection();
    if (!sel || sel.isCollapsed || !sel.anchorNode) { return; }
    var node = sel.anchorNode.nodeType === 1 ? sel.anchorNode : sel.anchorNode.parentElement;
    var answer = node && node.closest("[data-heron-answer]");
    if (answer) { implicit(answer, "implicit_copy"); }
  });
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var accept = target && target.closest("[data-heron-accept]");
    if (accept) { implicit(accept, "implicit_accept"); }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", scan);
  } else {
    scan();
  }
  window.heronFeedback = { scan: scan };
}());
