// Policybot web chat. No framework, no build step. Every piece of text from the server is put in the
// page with textContent (never innerHTML), so policy text and messages can never become markup.
(function () {
  "use strict";

  var POLL_MS = 4000;
  var $ = function (id) { return document.getElementById(id); };
  var log = $("log");
  var input = $("message");
  var sendButton = $("send");
  var busy = false;
  var me = null;
  var pollTimer = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Text with `code` spans (the bot writes commands such as `report` in backticks).
  function richText(tag, className, text) {
    var node = el(tag, className);
    String(text || "").split("`").forEach(function (part, i) {
      if (!part) return;
      node.appendChild(i % 2 ? el("code", null, part) : document.createTextNode(part));
    });
    return node;
  }

  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        data = data || {};
        data._status = r.status;
        return data;
      });
    });
  }

  function announce(text) { $("status").textContent = text; }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function addUser(text) {
    var item = el("div", "msg user");
    item.appendChild(el("span", "visually-hidden", "You said: "));
    item.appendChild(el("p", "msg-text", text));
    log.appendChild(item);
    scrollDown();
  }

  function renderQuote(q) {
    var fig = el("figure", "quote");
    if (q.lead_in) fig.appendChild(el("p", "lead-in", q.lead_in));
    var bq = el("blockquote");
    bq.appendChild(el("p", null, q.text));
    fig.appendChild(bq);
    var cap = el("figcaption");
    cap.appendChild(document.createTextNode(q.source_prefix));
    cap.appendChild(el("cite", null, q.citation));
    fig.appendChild(cap);
    (q.also || []).forEach(function (label) {
      var also = el("p", "also");
      also.appendChild(document.createTextNode(q.also_prefix));
      also.appendChild(el("cite", null, label));
      fig.appendChild(also);
    });
    return fig;
  }

  // The quotes of an answer under their headings ("Your organisation's policy (…)", "Other organisations'
  // guidance"), or as a plain list when the only section has no heading. h3: the page is h1 > h2 > these.
  function renderSections(item, msg) {
    var sections = msg.sections || [{ heading: null, quotes: msg.quotes || [] }];
    sections.forEach(function (section) {
      if (section.heading) item.appendChild(el("h3", "quote-heading", section.heading));
      (section.quotes || []).forEach(function (q) { item.appendChild(renderQuote(q)); });
    });
  }

  // A comparison as a table: one row an organisation, its stance in words (never colour alone) and its
  // clause quoted as everywhere else, or "Nothing on this". The region scrolls sideways on a narrow screen.
  function renderComparison(c) {
    var region = el("div", "table-scroll");
    region.setAttribute("role", "region");
    region.setAttribute("aria-label", "Comparison: " + c.topic);
    region.tabIndex = 0;  // a keyboard can scroll it
    var table = el("table", "comparison");
    var caption = el("caption");
    caption.appendChild(el("span", "caption-prefix", "Compare: "));
    caption.appendChild(document.createTextNode(c.topic));
    table.appendChild(caption);
    var head = el("thead");
    var tr = el("tr");
    ["Organisation", "Stance", "What the policy says"].forEach(function (name) {
      var th = el("th", null, name);
      th.scope = "col";
      tr.appendChild(th);
    });
    head.appendChild(tr);
    table.appendChild(head);
    var body = el("tbody");
    (c.rows || []).forEach(function (row) {
      var r = el("tr", row.quote ? null : "says-nothing");
      var th = el("th", null, row.organisation);
      th.scope = "row";
      r.appendChild(th);
      r.appendChild(el("td", "stance", row.stance));
      var says = el("td", "says");
      if (row.quote) says.appendChild(renderQuote(row.quote));
      else says.appendChild(el("span", "nothing", "Nothing on this"));
      r.appendChild(says);
      body.appendChild(r);
    });
    table.appendChild(body);
    region.appendChild(table);
    return region;
  }

  function setDisabled(container, disabled) {
    Array.prototype.forEach.call(container.querySelectorAll("button"), function (b) {
      b.disabled = disabled;
    });
  }

  function renderChoices(msg) {
    var group = el("div", "choices");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Options");
    msg.choices.forEach(function (c) {
      var b = el("button", "choice" + (c.style ? " " + c.style : ""), c.label);
      b.type = "button";
      b.addEventListener("click", function () {
        if (busy) return;
        setDisabled(group, true);
        b.classList.add("chosen");
        send({ action_id: c.action_id, value: c.value || "" }, c.label).then(function (ok) {
          if (ok) return;
          // the press did not get through: let the person try again
          b.classList.remove("chosen");
          setDisabled(group, false);
        });
      });
      group.appendChild(b);
    });
    return group;
  }

  function renderFeedback(fb, buttons) {
    var box = el("div", "feedback");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Was this helpful?");
    (buttons || []).forEach(function (button) {
      var b = el("button", "link-button", button.label);
      b.type = "button";
      b.addEventListener("click", function () {
        api("POST", "/chat/api/feedback", { helpful: button.helpful, question: fb.question, clause_ids: fb.clause_ids })
          .then(function (r) {
            var note = el("p", "hint", r.text || r.error || "Your vote could not be sent. Please try again.");
            note.tabIndex = -1;
            box.textContent = "";
            box.appendChild(note);
            note.focus();  // the pressed button is gone: keep keyboard focus here, not at the top of the page
          }).catch(function () {
            announce("Your vote could not be sent. Please try again.");
          });
      });
      box.appendChild(b);
    });
    return box;
  }

  function addBot(msg) {
    var item = el("div", "msg bot kind-" + (msg.kind || "text"));
    item.appendChild(el("span", "visually-hidden", "Policybot said: "));
    var text = msg.text || (msg.comparison ? msg.comparison.summary : "");  // a comparison's text is its summary
    if (text) {
      String(text).split(/\n{2,}/).forEach(function (para) {
        item.appendChild(richText("p", "msg-text", para));
      });
    }
    if (msg.comparison) item.appendChild(renderComparison(msg.comparison));
    renderSections(item, msg);
    if (msg.choices && msg.choices.length) item.appendChild(renderChoices(msg));
    if (msg.feedback) item.appendChild(renderFeedback(msg.feedback, msg.feedback_buttons));
    if (msg.kind === "error") item.setAttribute("role", "alert");
    log.appendChild(item);
    if (msg.input_hint === "long_text") {
      input.rows = 6;
    } else if (msg.kind === "prompt" || msg.kind === "answer" || msg.kind === "no_answer" || msg.kind === "comparison") {
      input.rows = 2;
    }
    scrollDown();
  }

  function addAll(messages) { (messages || []).forEach(addBot); }

  function setBusy(on) {
    busy = on;
    sendButton.disabled = on;
    log.setAttribute("aria-busy", on ? "true" : "false");
    announce(on ? "Policybot is looking that up…" : "");
  }

  // Send a message or a button press; resolves to true when the server took it.
  function send(body, shown) {
    if (busy) return Promise.resolve(false);
    addUser(shown);
    setBusy(true);
    return api("POST", "/chat/api/message", body).then(function (r) {
      setBusy(false);
      if (r._status === 401) { boot(); return false; }
      if (r._status !== 200) {
        addBot({ kind: "error", text: r.error || "Sorry, something went wrong. Please try again." });
        return false;
      }
      addAll(r.messages);
      return true;
    }).catch(function () {
      setBusy(false);
      addBot({ kind: "error", text: "I can't reach the server. Please check your connection and try again." });
      return false;
    }).then(function (ok) { input.focus(); return ok; });
  }

  function poll() {
    if (document.hidden || busy || !me) return;
    api("GET", "/chat/api/inbox").then(function (r) {
      if (r._status === 200) addAll(r.messages);
    }).catch(function () { /* offline for a moment: try again next time */ });
  }

  function show(id) {
    ["login", "signin-note", "chat"].forEach(function (x) { $(x).hidden = x !== id; });
  }

  function showIdentity(data) {
    $("identity").hidden = false;
    var who;
    if (data.mode === "secret") who = "Signed in with the access code (anonymous)";
    else if (data.anonymous && data.mode !== "header") who = "Not signed in (anonymous)";
    else who = "Signed in as " + data.name;
    $("whoami").textContent = who;
    $("logout").hidden = data.mode !== "secret";
    var consoleLink = $("console-link");  // for HR and case handlers, when the server has the admin console
    consoleLink.hidden = !data.admin_console;
    if (data.admin_console) consoleLink.href = data.admin_console;
    var form = $("as-form");
    var select = $("as");
    form.hidden = !data.can_switch;
    if (data.can_switch) {
      select.textContent = "";
      var anon = el("option", null, "Anonymous");
      anon.value = "";
      select.appendChild(anon);
      (data.people || []).forEach(function (p) {
        var o = el("option", null, p.name + " (" + p.id + ")");
        o.value = p.id;
        select.appendChild(o);
      });
      select.value = data.anonymous ? "" : data.user_id;
      $("whoami").hidden = true;
    } else {
      $("whoami").hidden = false;
    }
  }

  function startChat() {
    log.textContent = "";
    show("chat");
    api("POST", "/chat/api/start", {}).then(function (r) {
      if (r._status === 200) addAll(r.messages);
      else addBot({ kind: "error", text: r.error || "The chat could not start." });
    });
    if (!pollTimer) pollTimer = window.setInterval(poll, POLL_MS);
  }

  function boot() {
    return api("GET", "/chat/api/me").then(function (r) {
      if (r._status === 200) {
        me = r;
        showIdentity(r);
        startChat();
      } else if (r.login === "secret") {
        me = null;
        $("identity").hidden = true;
        show("login");
        $("secret").focus();
      } else {
        me = null;
        show("signin-note");
        $("signin-text").textContent = r.error || "The web chat is not available.";
      }
    }).catch(function () {
      show("signin-note");
      $("signin-text").textContent = "I can't reach the server. Please reload the page in a moment.";
    });
  }

  $("composer").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    send({ text: text }, text);
  });

  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit ? $("composer").requestSubmit() : $("composer").dispatchEvent(new Event("submit"));
    }
  });

  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("login-error").textContent = "";
    api("POST", "/chat/api/login", { secret: $("secret").value }).then(function (r) {
      $("secret").value = "";
      if (r._status === 200) return boot();
      $("login-error").textContent = r.error || "Sign-in failed.";
    });
  });

  // Switching identity waits for the button, so moving through the list with the arrow keys does not switch.
  $("as-form").addEventListener("submit", function (e) {
    e.preventDefault();
    api("POST", "/chat/api/identity", { user_id: $("as").value }).then(function (r) {
      if (r._status === 200) return boot().then(function () { announce("Signed in as " + (r.name || "anonymous")); });
      addBot({ kind: "error", text: r.error || "Could not switch." });
    });
  });

  $("logout").addEventListener("click", function () {
    api("POST", "/chat/api/logout", {}).then(boot);
  });

  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });

  boot();
})();
