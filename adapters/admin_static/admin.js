// Policybot admin console. No framework, no build step. Every piece of text from the server is put in the
// page with textContent (never innerHTML), so policy text, questions and case details can never become markup.
// Views are switched by the URL hash: #documents, #upload[/<doc_id>], #diff/<doc_id>, #gaps, #cases, #case/<ref>.
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var me = null;            // GET /admin/api/me once signed in with a role
  var documents = null;     // the last document list (for titles and the "Replaces" list)
  var preview = null;       // the upload preview being checked
  var currentCase = null;   // the case shown on the case page
  var charts = {};          // Chart.js instances by container id
  var firstRender = true;   // focus moves to the view heading on navigation, not on the first load

  var ROLE_WORDS = { hr: "HR", handler: "Case handler" };
  var HR_VIEWS = ["documents", "upload", "diff", "gaps"];
  var VIEWS = ["message", "documents", "upload", "diff", "gaps", "cases", "case"];
  var FIELDS = ["title", "organisation", "version", "date"];
  var ALLOWED_TYPES = [".txt", ".md", ".docx", ".pdf"];

  // ---- small helpers ----------------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) { node.textContent = ""; return node; }

  function button(label, className, onClick, name) {
    var b = el("button", className, label);
    b.type = "button";
    if (name && name !== label) b.setAttribute("aria-label", name);
    b.addEventListener("click", onClick);
    return b;
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : (many || one + "s")); }

  function fmtDate(iso, withTime) {
    if (!iso) return "–";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var opts = { day: "numeric", month: "short", year: "numeric" };
    if (withTime !== false) { opts.hour = "2-digit"; opts.minute = "2-digit"; }
    return d.toLocaleString("en-GB", opts);
  }

  function timeEl(iso, withTime) {
    var t = el("time", null, fmtDate(iso, withTime));
    if (iso) t.dateTime = iso;
    return t;
  }

  // "2 days", "5 hours", "10 minutes": the nearest whole unit of a duration in milliseconds
  function span(ms) {
    var minutes = Math.max(1, Math.round(ms / 60000));
    if (minutes < 60) return plural(minutes, "minute");
    var hours = Math.round(ms / 3600000);
    if (hours < 48) return plural(hours, "hour");
    return plural(Math.round(ms / 86400000), "day");
  }

  // The acknowledgement clock of a case, in words: "due in 2 days", "overdue by 5 hours", "acknowledged 3 Mar 2025"
  function deadlineText(c, now) {
    if (c.acknowledged_iso) return "acknowledged " + fmtDate(c.acknowledged_iso, false);
    if (c.state === "closed") return "closed without acknowledgement";
    var due = new Date(c.ack_due_iso);
    if (!c.ack_due_iso || isNaN(due.getTime())) return c.ack_due || "–";
    var left = due.getTime() - (now || Date.now());
    if (left < 0) return "overdue by " + span(-left);
    if (c.overdue) return "overdue";  // the server's clock says so, this computer's clock is behind
    return "due in " + span(left);
  }

  function announce(text) {
    var status = $("status");
    status.textContent = "";
    // a fresh text node, so the same message twice is still announced
    window.setTimeout(function () { status.textContent = text; }, 30);
  }

  function showError(text) { $("alert").textContent = text || ""; }

  function setBusy(node, on) { node.setAttribute("aria-busy", on ? "true" : "false"); }

  // ---- the API ----------------------------------------------------------------------------------------
  // Resolves to the JSON body with _status; a state-changing request carries the CSRF token from /me.
  function api(method, path, body, isForm) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET" && me && me.csrf) opts.headers["X-CSRF-Token"] = me.csrf;
    if (isForm) {
      opts.body = body;  // multipart: the browser sets Content-Type with its boundary
    } else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        data = (data && typeof data === "object") ? data : {};
        data._status = r.status;
        return data;
      });
    }, function () {
      return { _status: 0, error: "I can't reach the server. Please check your connection and try again." };
    });
  }

  // A state-changing request; when it is refused (403) because the session changed meanwhile (another tab
  // signed in as someone else), fetch a fresh CSRF token once and try again.
  function send(method, path, body, isForm) {
    return api(method, path, body, isForm).then(function (r) {
      if (r._status !== 403 || !me) return r;
      var old = me.csrf;
      return api("GET", "/admin/api/me").then(function (m) {
        if (m._status !== 200 || m.csrf === old) return r;
        me.csrf = m.csrf;
        return api(method, path, body, isForm);
      });
    });
  }

  // The common answers to a refused request: sign-in needed (401), not allowed (403), unreachable (0).
  // Returns true when it took care of the response.
  function handledRefusal(r) {
    if (r._status === 401) { boot(); return true; }
    if (r._status === 0) { showError(r.error); return true; }
    if (r._status === 403) { showError(r.error || "You are not allowed to do that."); return true; }
    return false;
  }

  // ---- identity and the top bar -------------------------------------------------------------------------
  function showSwitcher(data) {
    var form = $("as-form");
    form.hidden = !data.can_switch;
    if (!data.can_switch) return;
    var select = clear($("as"));
    var known = false;
    (data.people || []).forEach(function (p) {
      var o = el("option", null, p.name + " (" + p.id + ")");
      o.value = p.id;
      if (data.user_id === p.id) known = true;
      select.appendChild(o);
    });
    if (!known) {
      var none = el("option", null, "Choose a person");
      none.value = "";
      select.insertBefore(none, select.firstChild);
    }
    select.value = known ? data.user_id : "";
  }

  function showMessage(title, text, hint) {
    $("message-title").textContent = title;
    $("message-text").textContent = text;
    $("message-hint").textContent = hint || "";
    showView("message");
  }

  function boot() {
    return api("GET", "/admin/api/me").then(function (r) {
      if (r._status === 200) {
        me = r;
        $("whoami").textContent = "Signed in as " + r.name + " (" + (ROLE_WORDS[r.role] || r.role) + ")";
        showSwitcher(r);
        var nav = $("nav");
        nav.hidden = false;
        Array.prototype.forEach.call(nav.querySelectorAll("li[data-role]"), function (li) {
          var role = li.getAttribute("data-role");
          li.hidden = role === "hr" ? r.role !== "hr" : !r.reporting && r.role === "hr";
        });
        route();
        return;
      }
      me = null;
      $("nav").hidden = true;
      showSwitcher(r);
      if (r._status === 401) {
        $("whoami").textContent = "Not signed in";
        var hint = {
          loopback: "Choose who to sign in as in \u201cSign in as\u201d at the top of the page.",
          secret: "The admin console needs a named sign-in; the shared access code is anonymous.",
          proxy: "Sign in through your organisation's portal, then reload this page."
        }[r.login] || "";
        showMessage("Sign-in needed", r.error || "Please sign in.", hint);
      } else if (r._status === 403) {
        showRefusal(r);
      } else if (r._status === 0) {
        $("whoami").textContent = "";
        showMessage("Server unreachable", r.error, "Reload the page in a moment.");
      } else {
        showMessage("Admin console unavailable", r.error || "The admin console is not available (" + r._status + ").");
      }
    });
  }

  // Signed in, but not someone the console is for: say who (the web chat knows the name), and in the local
  // demo an anonymous visitor is asked to choose someone rather than told they are refused.
  function showRefusal(r) {
    $("whoami").textContent = "";
    api("GET", "/chat/api/me").then(function (who) {
      var known = who._status === 200 && !who.anonymous;
      if (known) {
        $("whoami").textContent = "Signed in as " + who.name;
        showSwitcher({ can_switch: r.can_switch, people: r.people, user_id: who.user_id });
      } else if (who._status === 200) {
        $("whoami").textContent = "Not signed in (anonymous)";
      }
      if (!known && r.can_switch) {
        showMessage("Sign-in needed", "The admin console is for HR and case handlers.",
          "Choose who to sign in as in \u201cSign in as\u201d at the top of the page.");
        return;
      }
      showMessage("Not available to you", r.error || "The admin console is for HR and case handlers.",
        r.can_switch ? "In this local demo you can sign in as someone else with \u201cSign in as\u201d." : "");
    });
  }

  // "Sign in as" waits for the button, so moving through the list with the arrow keys does not switch.
  $("as-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var who = $("as").value;
    if (!who) { announce("Choose a person first."); return; }
    // the web chat's sign-in; /chat/api/me first gives a first-time visitor the session it switches
    api("GET", "/chat/api/me").then(function () {
      return api("POST", "/chat/api/identity", { user_id: who });
    }).then(function (r) {
      if (r._status === 200) { window.location.reload(); return; }
      showError(r.error || "Could not switch.");
    });
  });

  // ---- views --------------------------------------------------------------------------------------------
  function showView(name) {
    VIEWS.forEach(function (v) { $("view-" + v).hidden = v !== name; });
    var hashView = name === "case" ? "cases" : name === "diff" ? "documents" : name;
    Array.prototype.forEach.call(document.querySelectorAll("#nav a[data-view]"), function (a) {
      if (a.getAttribute("data-view") === hashView) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    var heading = $(name + "-title");
    var titled = heading ? heading.textContent : "";
    document.title = (titled ? titled + " \u2013 " : "") + "Policybot admin";
    if (!firstRender && heading) heading.focus();
  }

  function route() {
    if (!me) return;
    var hash = decodeURIComponent(window.location.hash.replace(/^#/, ""));
    var slash = hash.indexOf("/");
    var view = slash < 0 ? hash : hash.slice(0, slash);
    var arg = slash < 0 ? "" : hash.slice(slash + 1);
    var renders = {
      documents: renderDocuments, upload: renderUpload, diff: renderDiff,
      gaps: renderGaps, cases: renderCases, "case": renderCase
    };
    if (!renders[view]) view = me.role === "hr" ? "documents" : "cases";  // also for no view
    if (me.role !== "hr" && HR_VIEWS.indexOf(view) >= 0) view = "cases";
    showError("");
    $("status").textContent = "";
    dropCharts();
    showView(view);
    firstRender = false;
    renders[view](arg);
  }

  window.addEventListener("hashchange", route);

  // The skip link moves focus to the view's heading without changing the hash (the hash is the view).
  document.querySelector(".skip-link").addEventListener("click", function (e) {
    e.preventDefault();
    var shown = document.querySelector("main .view:not([hidden]) h2");
    (shown || $("main")).focus();
  });

  function go(hash) {
    if (window.location.hash === hash) route();
    else window.location.hash = hash;
  }

  // ---- tables -------------------------------------------------------------------------------------------
  function cell(row, content, className, header) {
    var c = el(header ? "th" : "td", className);
    if (header) c.scope = "row";
    if (content instanceof Node) c.appendChild(content);
    else c.textContent = content === null || content === undefined ? "–" : String(content);
    row.appendChild(c);
    return c;
  }

  // ---- documents ----------------------------------------------------------------------------------------
  function loadDocuments() {
    return api("GET", "/admin/api/documents").then(function (r) {
      if (r._status === 200) documents = r.documents || [];
      return r;
    });
  }

  function titleOf(docId) {
    var d = (documents || []).filter(function (x) { return x.doc_id === docId; })[0];
    return d ? d.title : docId;
  }

  function renderDocuments() {
    var section = $("view-documents");
    var body = clear($("documents-table").tBodies[0]);
    setBusy(section, true);
    loadDocuments().then(function (r) {
      setBusy(section, false);
      if (handledRefusal(r)) return;
      if (r._status !== 200) { showError(r.error || "The documents could not be loaded."); return; }
      $("documents-empty").hidden = documents.length > 0;
      documents.forEach(function (d) {
        var tr = el("tr");
        cell(tr, el("code", null, d.doc_id));
        cell(tr, d.organisation);
        cell(tr, d.title, "title", true);
        cell(tr, d.edition || "version " + d.version_no);
        cell(tr, d.clauses, "num");
        cell(tr, timeEl(d.updated_at));
        var actions = el("div", "row-actions");
        actions.appendChild(button("Replace", null, function () { go("#upload/" + encodeURIComponent(d.doc_id)); },
          "Replace " + d.title));
        actions.appendChild(button("Changes", null, function () { go("#diff/" + encodeURIComponent(d.doc_id)); },
          "Changes to " + d.title));
        actions.appendChild(button("Remove", "danger", function (e) { confirmRemove(d, e.currentTarget); },
          "Remove " + d.title));
        cell(tr, actions);
        body.appendChild(tr);
      });
    });
  }

  function confirmRemove(d, opener) {
    var dialog = $("confirm");
    $("confirm-title").textContent = "Remove \u201c" + d.title + "\u201d?";
    $("confirm-text").textContent = "The bot stops quoting its " + plural(d.clauses, "clause") +
      " at once. Every version is kept for audit, and you can upload it again later.";
    var done = function () {
      dialog.removeEventListener("close", done);
      if (dialog.returnValue !== "ok") { opener.focus(); return; }
      send("DELETE", "/admin/api/documents/" + encodeURIComponent(d.doc_id)).then(function (r) {
        if (handledRefusal(r)) return;
        if (r._status !== 200) { showError(r.error || "The document could not be removed."); return; }
        announce("Removed \u201c" + d.title + "\u201d: its " + plural(r.clauses, "clause") + " are no longer quoted.");
        renderDocuments();
        $("documents-title").focus();
      });
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", done);
    dialog.showModal();
  }

  // ---- upload and preview -------------------------------------------------------------------------------
  function fillReplaceSelect(selected) {
    var select = clear($("upload-replace"));
    var none = el("option", null, "Nothing: a new document");
    none.value = "";
    select.appendChild(none);
    (documents || []).forEach(function (d) {
      var o = el("option", null, d.title + " (" + d.organisation + ", " + d.doc_id + ")");
      o.value = d.doc_id;
      select.appendChild(o);
    });
    select.value = selected || "";
    if (select.value !== (selected || "")) select.value = "";
  }

  function renderUpload(replaceId) {
    $("preview").hidden = true;
    preview = null;
    setFieldError("upload-file", "");
    $("upload-form").reset();
    fillReplaceSelect(replaceId);
    loadDocuments().then(function (r) {
      if (handledRefusal(r)) return;
      fillReplaceSelect(replaceId);
    });
  }

  function setFieldError(id, message) {
    var input = $(id);
    var box = $(id + "-error");
    box.textContent = message || "";
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  $("upload-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = $("upload-file");
    var file = input.files && input.files[0];
    setFieldError("upload-file", "");
    showError("");
    if (!file) {
      setFieldError("upload-file", "Choose a file to upload.");
      input.focus();
      return;
    }
    var dot = file.name.lastIndexOf(".");
    var ext = dot < 0 ? "" : file.name.slice(dot).toLowerCase();
    if (ALLOWED_TYPES.indexOf(ext) < 0) {
      setFieldError("upload-file", "This file type cannot be read. Use .txt, .md, .docx or .pdf.");
      input.focus();
      return;
    }
    var form = new FormData();
    form.append("file", file, file.name);
    var replace = $("upload-replace").value;
    if (replace) form.append("replace", replace);
    var submit = e.target.querySelector("button[type=submit]");
    submit.disabled = true;
    announce("Reading " + file.name + "\u2026");
    send("POST", "/admin/api/documents", form, true).then(function (r) {
      submit.disabled = false;
      if (handledRefusal(r)) return;
      if (r._status === 200) { showPreview(r); return; }
      var message = r.error || "The file could not be read.";
      if (r._status === 413) message = r.error || "The file is too large.";
      if (r._status === 404 && replace) {
        showError(message);
        $("upload-replace").focus();
        return;
      }
      setFieldError("upload-file", message);
      announce("The file was not accepted.");
      input.focus();
    });
  });

  function clauseList(clauses) {
    var box = el("div");
    var section = null;
    var list = null;
    clauses.forEach(function (c) {
      var name = c.section || c.heading || "";
      if (list === null || name !== section) {
        section = name;
        box.appendChild(el("h4", "section-name", name || "No heading"));
        list = el("ul", "clause-list");
        box.appendChild(list);
      }
      var li = el("li");
      var text = (c.kind === "item" ? "\u2022 " : "") + (c.number && c.kind !== "item" ? c.number + ". " : "") + c.text;
      li.appendChild(el("span", null, text));
      if (c.kind === "item" && c.lead_in) {
        li.appendChild(el("span", "hint lead", " (under: " + c.lead_in + ")"));
      }
      list.appendChild(li);
    });
    return box;
  }

  function showPreview(p) {
    preview = p;
    var box = $("preview");
    box.hidden = false;
    var verb = p.action === "replace" ? "Replace " + titleOf(p.doc_id) + " (" + p.doc_id + ") with version " + p.version_no : "Add a new document " + p.doc_id;
    $("preview-summary").textContent = verb + " from " + p.file + " (" + sizeText(p.size_bytes) + "): " +
      plural((p.clauses || []).length, "clause") + ". Nothing is published until you press Publish.";
    FIELDS.forEach(function (name) {
      var input = $("pf-" + name);
      input.value = p[name] || "";
      input.defaultValue = p[name] || "";
      var source = (p.sources_in_words || {})[name];
      $("pf-" + name + "-source").textContent = source ? source.charAt(0).toUpperCase() + source.slice(1) + "." : "";
      setFieldError("pf-" + name, "");
    });
    $("preview-citation").textContent = p.citation || "";
    var warnings = clear($("preview-warnings"));
    if (p.warnings && p.warnings.length) {
      var note = el("div", "warnings");
      note.setAttribute("role", "note");
      note.setAttribute("aria-label", "Warnings");
      note.appendChild(el("h4", null, "Check before publishing"));
      var ul = el("ul");
      p.warnings.forEach(function (w) { ul.appendChild(el("li", null, w)); });
      note.appendChild(ul);
      warnings.appendChild(note);
    }
    var change = clear($("preview-change"));
    if (p.diff) {
      change.appendChild(el("p", null, "Change from version " + p.diff.from_version + ": " + diffCounts(p.diff) + "."));
    }
    $("preview-clauses-summary").textContent = "Clauses by section (" + (p.clauses || []).length + ")";
    var clauses = clear($("preview-clauses"));
    clauses.appendChild(clauseList(p.clauses || []));
    announce("Preview ready: check the details, then publish.");
    $("preview-title").focus();
  }

  function sizeText(bytes) {
    return bytes < 1024 ? plural(bytes, "byte") : (bytes / 1024).toFixed(1) + " KB";
  }

  function diffCounts(d) {
    return (d.added || []).length + " added, " + (d.removed || []).length + " removed, " +
      (d.changed || []).length + " changed, " + (d.unchanged || 0) + " unchanged";
  }

  $("publish-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!preview) return;
    var body = { preview_token: preview.preview_token || preview.token };
    FIELDS.forEach(function (name) {
      var input = $("pf-" + name);
      setFieldError("pf-" + name, "");
      if (input.value !== input.defaultValue) body[name] = input.value.trim();
    });
    var submit = e.target.querySelector("button[type=submit]");
    submit.disabled = true;
    send("POST", "/admin/api/documents/publish", body).then(function (r) {
      submit.disabled = false;
      if (handledRefusal(r)) return;
      if (r._status === 200) {
        var title = body.title || preview.title;
        preview = null;
        var verb = r.action === "replaced" ? "Published version " + r.version_no + " of" : "Published";
        var text = verb + " \u201c" + title + "\u201d: " + plural(r.clauses, "clause") + " live.";
        if (r.index_error) text += " The search index catches up on the next question.";
        go("#documents");
        announce(text);
        return;
      }
      if (r._status === 400 && r.fields) {
        var first = null;
        Object.keys(r.fields).forEach(function (name) {
          if (FIELDS.indexOf(name) < 0) return;
          setFieldError("pf-" + name, r.fields[name]);
          if (!first) first = $("pf-" + name);
        });
        showError(r.error || "Some details need correcting; nothing was published.");
        if (first) first.focus();
        return;
      }
      if (r._status === 410) {
        showError(r.error || "This preview has expired. Upload the file again.");
        $("preview").hidden = true;
        $("upload-file").focus();
        return;
      }
      showError(r.error || "The document could not be published.");
    });
  });

  $("preview-cancel").addEventListener("click", function () {
    preview = null;
    $("preview").hidden = true;
    announce("Upload cancelled; nothing was published.");
    $("upload-file").focus();
  });

  // ---- diff ---------------------------------------------------------------------------------------------
  function clauseLabel(c) {
    var parts = [];
    if (c.heading) parts.push(c.heading);
    if (c.number) parts.push("clause " + c.number);
    return parts.join(", ") || c.clause_id || "";
  }

  // Changed words as <del>/<ins>; a screen reader also hears "removed:" / "added:" (CSS generated text).
  function wordsLine(words) {
    var p = el("p", "words");
    (words || []).forEach(function (w) {
      if (w.op === "insert") p.appendChild(el("ins", null, w.text));
      else if (w.op === "delete") p.appendChild(el("del", null, w.text));
      else p.appendChild(document.createTextNode(w.text));
    });
    return p;
  }

  function clauseItems(title, items, render) {
    var box = el("section", "diff-part");
    box.appendChild(el("h3", null, title + " (" + items.length + ")"));
    if (!items.length) { box.appendChild(el("p", "empty", "None.")); return box; }
    var ul = el("ul", "diff-list");
    items.forEach(function (item) { ul.appendChild(render(item)); });
    box.appendChild(ul);
    return box;
  }

  function renderDiff(docId, from, to) {
    var out = clear($("diff-body"));
    var form = $("diff-form");
    form.hidden = true;
    form.setAttribute("data-doc", docId);
    $("diff-title").textContent = "Changes to " + titleOf(docId);
    if (!documents) loadDocuments().then(function () { $("diff-title").textContent = "Changes to " + titleOf(docId); });
    var query = [];
    if (from) query.push("from=" + encodeURIComponent(from));
    if (to) query.push("to=" + encodeURIComponent(to));
    setBusy($("view-diff"), true);
    api("GET", "/admin/api/documents/" + encodeURIComponent(docId) + "/diff" + (query.length ? "?" + query.join("&") : ""))
      .then(function (r) {
        setBusy($("view-diff"), false);
        if (handledRefusal(r)) return;
        if (r._status !== 200) {
          out.appendChild(el("p", "panel", r.error || "The changes could not be loaded."));
          return;
        }
        var versions = r.versions || [];
        ["diff-from", "diff-to"].forEach(function (id) {
          var select = clear($(id));
          versions.forEach(function (v) {
            var o = el("option", null, "Version " + v.version_no + (v.edition ? " (" + v.edition + ")" : "") +
              (v.added_at ? ", added " + fmtDate(v.added_at, false) : ""));
            o.value = v.version_no;
            select.appendChild(o);
          });
        });
        $("diff-from").value = r.from_version;
        $("diff-to").value = r.to_version;
        form.hidden = versions.length < 2;
        out.appendChild(el("p", "lead", "Version " + r.from_version + " to version " + r.to_version + ": " + diffCounts(r) + "."));
        var key = el("p", "hint key");
        key.appendChild(document.createTextNode("In changed clauses, removed words are "));
        key.appendChild(el("del", null, "struck through"));
        key.appendChild(document.createTextNode(" and added words are "));
        key.appendChild(el("ins", null, "underlined"));
        key.appendChild(document.createTextNode("."));
        out.appendChild(key);
        out.appendChild(clauseItems("Changed clauses", r.changed || [], function (pair) {
          var li = el("li", "changed");
          li.appendChild(el("p", "clause-label", clauseLabel(pair.new || pair.old)));
          li.appendChild(wordsLine(pair.words));
          return li;
        }));
        out.appendChild(clauseItems("Added clauses", r.added || [], function (c) {
          var li = el("li", "added");
          li.appendChild(el("p", "clause-label", clauseLabel(c)));
          li.appendChild(el("p", null, c.text));
          return li;
        }));
        out.appendChild(clauseItems("Removed clauses", r.removed || [], function (c) {
          var li = el("li", "removed");
          li.appendChild(el("p", "clause-label", clauseLabel(c)));
          li.appendChild(el("p", null, c.text));
          return li;
        }));
      });
  }

  $("diff-form").addEventListener("submit", function (e) {
    e.preventDefault();
    renderDiff(e.target.getAttribute("data-doc"), $("diff-from").value, $("diff-to").value);
    announce("Showing the changes from version " + $("diff-from").value + " to version " + $("diff-to").value + ".");
  });

  // ---- charts -------------------------------------------------------------------------------------------
  // Okabe-Ito colours (told apart with colour blindness), each dataset also gets its own hatching pattern,
  // so the bars are distinguishable in greyscale too.
  var COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
  var PATTERNS = ["diagonal", "dots", "horizontal", "cross", "backslash", "vertical", "grid", "zigzag"];

  function pattern(colour, kind) {
    var size = 12;
    var c = document.createElement("canvas");
    c.width = c.height = size;
    var g = c.getContext("2d");
    g.fillStyle = colour;
    g.fillRect(0, 0, size, size);
    g.strokeStyle = "rgba(255, 255, 255, 0.9)";
    g.fillStyle = "rgba(255, 255, 255, 0.9)";
    g.lineWidth = 2;
    g.beginPath();
    if (kind === "diagonal") { g.moveTo(0, size); g.lineTo(size, 0); g.moveTo(-3, 3); g.lineTo(3, -3); g.moveTo(size - 3, size + 3); g.lineTo(size + 3, size - 3); }
    else if (kind === "backslash") { g.moveTo(0, 0); g.lineTo(size, size); g.moveTo(-3, size - 3); g.lineTo(3, size + 3); g.moveTo(size - 3, -3); g.lineTo(size + 3, 3); }
    else if (kind === "horizontal") { g.moveTo(0, size / 2); g.lineTo(size, size / 2); }
    else if (kind === "vertical") { g.moveTo(size / 2, 0); g.lineTo(size / 2, size); }
    else if (kind === "cross") { g.moveTo(0, 0); g.lineTo(size, size); g.moveTo(size, 0); g.lineTo(0, size); }
    else if (kind === "grid") { g.moveTo(0, size / 2); g.lineTo(size, size / 2); g.moveTo(size / 2, 0); g.lineTo(size / 2, size); }
    else if (kind === "zigzag") { g.moveTo(0, 8); g.lineTo(3, 4); g.lineTo(6, 8); g.lineTo(9, 4); g.lineTo(12, 8); }
    g.stroke();
    if (kind === "dots") {
      g.beginPath(); g.arc(3, 3, 1.6, 0, 2 * Math.PI); g.arc(9, 9, 1.6, 0, 2 * Math.PI); g.fill();
    }
    return g.createPattern(c, "repeat");
  }

  function dropCharts() {
    Object.keys(charts).forEach(function (k) { charts[k].destroy(); delete charts[k]; });
  }

  function weekLabel(week) {
    var d = new Date(week + "T12:00:00");
    return isNaN(d.getTime()) ? week : d.toLocaleDateString("en-GB", { day: "numeric", month: "short" });
  }

  // A chart with a heading, a legend, a spoken summary on the canvas and the same numbers as a table in a
  // <details> next to it. spec: {id, title, summary, caption, labels (weeks), series: [{label, counts}], stacked}
  function chartBlock(container, spec) {
    clear(container);
    var figure = el("figure", "chart");
    figure.appendChild(el("h3", null, spec.title));
    var box = el("div", "chart-canvas");
    var canvas = el("canvas");
    canvas.id = spec.id;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", spec.summary);
    canvas.appendChild(el("p", null, spec.summary));  // fallback content
    box.appendChild(canvas);
    figure.appendChild(box);
    figure.appendChild(el("figcaption", "hint", spec.summary));
    var details = el("details", "chart-data");
    details.appendChild(el("summary", null, "Show the data as a table"));
    var region = el("div", "table-scroll");
    region.setAttribute("role", "region");
    region.setAttribute("aria-label", spec.caption);
    region.tabIndex = 0;
    var table = el("table", "data");
    table.appendChild(el("caption", null, spec.caption));
    var head = el("thead");
    var hr = el("tr");
    var th = el("th", null, "Week beginning");
    th.scope = "col";
    hr.appendChild(th);
    spec.series.forEach(function (s) { var h = el("th", "num", s.label); h.scope = "col"; hr.appendChild(h); });
    head.appendChild(hr);
    table.appendChild(head);
    var body = el("tbody");
    spec.labels.forEach(function (week, i) {
      var tr = el("tr");
      cell(tr, fmtDate(week + "T12:00:00", false), null, true);
      spec.series.forEach(function (s) { cell(tr, s.counts[i] || 0, "num"); });
      body.appendChild(tr);
    });
    table.appendChild(body);
    region.appendChild(table);
    details.appendChild(region);
    figure.appendChild(details);
    container.appendChild(figure);

    if (!window.Chart) { details.open = true; box.hidden = true; return; }
    if (charts[spec.id]) charts[spec.id].destroy();
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    charts[spec.id] = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels.map(weekLabel),
        datasets: spec.series.map(function (s, i) {
          var colour = COLOURS[i % COLOURS.length];
          return {
            label: s.label,
            data: s.counts,
            backgroundColor: pattern(colour, PATTERNS[i % PATTERNS.length]),
            borderColor: colour,
            borderWidth: 1.5
          };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduce || navigator.webdriver ? false : { duration: 300 },
        plugins: { legend: { position: "bottom", labels: { color: "#1b1b1b", boxWidth: 24, boxHeight: 14 } } },
        scales: {
          x: { stacked: !!spec.stacked, ticks: { color: "#1b1b1b" },
               title: { display: true, text: "Week beginning", color: "#1b1b1b" } },
          y: { stacked: !!spec.stacked, beginAtZero: true, ticks: { precision: 0, color: "#1b1b1b" },
               title: { display: true, text: spec.yTitle || "Count", color: "#1b1b1b" } }
        }
      }
    });
  }

  function total(series) {
    return series.reduce(function (n, s) { return n + s.counts.reduce(function (a, b) { return a + (b || 0); }, 0); }, 0);
  }

  // ---- gaps ---------------------------------------------------------------------------------------------
  function renderGaps() {
    var days = $("gaps-days").value || "90";
    var body = clear($("gaps-table").tBodies[0]);
    setBusy($("view-gaps"), true);
    api("GET", "/admin/api/gaps?days=" + encodeURIComponent(days)).then(function (r) {
      setBusy($("view-gaps"), false);
      if (handledRefusal(r)) return;
      if (r._status !== 200) { showError(r.error || "The questions could not be loaded."); return; }
      var weeks = r.weeks || [];
      var series = [
        { label: "No answer", counts: weeks.map(function (w) { return w.abstained; }) },
        { label: "Marked not helpful", counts: weeks.map(function (w) { return w.not_helpful; }) }
      ];
      var busiest = weeks.reduce(function (best, w) {
        return (w.abstained + w.not_helpful) > (best ? best.abstained + best.not_helpful : -1) ? w : best;
      }, null);
      var summary = "Bar chart of unanswered questions per week over the last " + weeks.length + " weeks: " +
        series[0].counts.reduce(function (a, b) { return a + b; }, 0) + " with no answer and " +
        series[1].counts.reduce(function (a, b) { return a + b; }, 0) + " marked not helpful" +
        (busiest && (busiest.abstained + busiest.not_helpful) > 0 ?
          "; the busiest week began " + fmtDate(busiest.week + "T12:00:00", false) + "." : ".");
      chartBlock($("gaps-chart"), {
        id: "gaps-canvas", title: "Unanswered questions per week", summary: summary,
        caption: "Unanswered questions per week", labels: weeks.map(function (w) { return w.week; }),
        series: series, stacked: true, yTitle: "Questions"
      });
      var groups = r.groups || [];
      $("gaps-empty").hidden = groups.length > 0;
      groups.forEach(function (g, i) {
        var tr = el("tr");
        cell(tr, g.question, "question", true);
        cell(tr, g.count, "num");
        cell(tr, g.abstained, "num");
        cell(tr, g.not_helpful, "num");
        cell(tr, timeEl(g.last_seen, false));
        var detailRow = el("tr", "closest-row");
        detailRow.hidden = true;
        var detail = el("td");
        detail.colSpan = 6;
        detail.id = "closest-" + i;
        detailRow.appendChild(detail);
        var b = button("Closest document", null, function () { toggleClosest(g, b, detailRow, detail); },
          "Closest document for \u201c" + g.question + "\u201d");
        b.setAttribute("aria-expanded", "false");
        b.setAttribute("aria-controls", detail.id);
        var dismiss = button("Dismiss", null, function () { dismissGap(g, dismiss); },
          "Dismiss \u201c" + g.question + "\u201d (handled: forget these " + plural(g.count, "question") + ")");
        var actionsBox = el("div", "actions");
        actionsBox.appendChild(b);
        actionsBox.appendChild(dismiss);
        cell(tr, actionsBox);
        body.appendChild(tr);
        body.appendChild(detailRow);
      });
    });
  }

  // Forget a question group once it is handled (a policy now covers it); the list and the chart are redrawn.
  function dismissGap(g, b) {
    b.disabled = true;
    send("POST", "/admin/api/gaps/dismiss", { keys: [g.key] }).then(function (r) {
      b.disabled = false;
      if (handledRefusal(r)) return;
      if (r._status !== 200) { showError(r.error || "Could not dismiss that question."); return; }
      dropCharts();
      renderGaps();
      $("gaps-title").focus();
      announce("Dismissed \u201c" + g.question + "\u201d.");
    });
  }

  function toggleClosest(g, b, row, box) {
    if (b.getAttribute("aria-expanded") === "true") {
      b.setAttribute("aria-expanded", "false");
      row.hidden = true;
      return;
    }
    b.setAttribute("aria-expanded", "true");
    row.hidden = false;
    clear(box).appendChild(el("p", "hint", "Looking for the closest clause\u2026"));
    api("GET", "/admin/api/gaps/closest?q=" + encodeURIComponent(g.question)).then(function (r) {
      clear(box);
      if (handledRefusal(r)) return;
      if (r._status !== 200) { box.appendChild(el("p", "error", r.error || "Could not look that up.")); return; }
      var c = r.closest;
      if (!c) {
        box.appendChild(el("p", null, "No clause in any document is close to this question."));
        announce("No close clause found.");
        return;
      }
      var fig = el("figure", "quote");
      var bq = el("blockquote");
      bq.appendChild(el("p", null, c.text));
      fig.appendChild(bq);
      var cap = el("figcaption");
      cap.appendChild(document.createTextNode("Closest: "));
      cap.appendChild(el("cite", null, c.organisation + " \u2014 " + c.title + (c.section ? ", " + c.section : "")));
      cap.appendChild(document.createTextNode(" (similarity " + Number(c.score).toFixed(2) + ")"));
      fig.appendChild(cap);
      box.appendChild(fig);
      announce("Closest clause: " + c.title + ".");
    });
  }

  $("gaps-form").addEventListener("submit", function (e) {
    e.preventDefault();
    dropCharts();
    renderGaps();
    announce("Showing " + $("gaps-days").selectedOptions[0].textContent.toLowerCase() + ".");
  });

  // ---- cases --------------------------------------------------------------------------------------------
  function escalatedWords(c) { return c.escalated ? "Escalated to HR" : "No"; }

  function renderCases() {
    var body = clear($("cases-table").tBodies[0]);
    var counts = clear($("case-counts"));
    clear($("cases-chart"));
    setBusy($("view-cases"), true);
    api("GET", "/admin/api/cases").then(function (r) {
      setBusy($("view-cases"), false);
      if (handledRefusal(r)) return;
      if (r._status !== 200) { showError(r.error || "The cases could not be loaded."); return; }
      var n = r.counts || {};
      [["open", "Open"], ["overdue", "Overdue"], ["escalated", "Escalated"], ["closed", "Closed"]].forEach(function (k) {
        var li = el("li", "count count-" + k[0]);
        li.appendChild(el("span", "count-n", n[k[0]] || 0));
        li.appendChild(el("span", "count-label", " " + k[1]));
        counts.appendChild(li);
      });
      var cases = (r.cases || []).slice().sort(function (a, b) {  // newest first, as the caption says
        return a.created_iso < b.created_iso ? 1 : a.created_iso > b.created_iso ? -1 : 0;
      });
      $("cases-empty").hidden = cases.length > 0;
      var now = Date.now();
      cases.forEach(function (c) {
        var tr = el("tr", c.overdue ? "overdue" : null);
        var a = el("a", null, c.ref);
        a.href = "#case/" + encodeURIComponent(c.ref);
        cell(tr, a, null, true);
        cell(tr, c.category);
        cell(tr, c.status);
        cell(tr, deadlineText(c, now), c.overdue ? "deadline late" : "deadline");
        cell(tr, escalatedWords(c));
        cell(tr, c.handler);
        cell(tr, timeEl(c.created_iso));
        body.appendChild(tr);
      });
      var chart = r.chart || { weeks: [], series: [] };
      var series = (chart.series || []).map(function (s) { return { label: s.label, counts: s.counts || [] }; });
      var openN = total((chart.series || []).filter(function (s) { return s.state === "open"; }));
      var closedN = total((chart.series || []).filter(function (s) { return s.state === "closed"; }));
      chartBlock($("cases-chart"), {
        id: "cases-canvas", title: "Cases submitted per week, by category and whether open or closed",
        summary: "Stacked bar chart of cases submitted per week over the last " + (chart.weeks || []).length +
          " weeks: " + plural(openN + closedN, "case") + ", " + openN + " still open and " + closedN + " closed, in " +
          plural(series.length, "category and state group", "category and state groups") + ".",
        caption: "Cases submitted per week by category and state", labels: chart.weeks || [],
        series: series, stacked: true, yTitle: "Cases"
      });
    });
  }

  // ---- one case -----------------------------------------------------------------------------------------
  function renderCase(ref) {
    currentCase = null;
    $("case-title").textContent = "Case " + ref;
    clear($("case-details"));
    clear($("case-actions"));
    clear($("case-history"));
    $("ask-form").hidden = $("close-form").hidden = true;
    $("case-audit-box").hidden = true;
    setBusy($("view-case"), true);
    api("GET", "/admin/api/cases/" + encodeURIComponent(ref)).then(function (r) {
      setBusy($("view-case"), false);
      if (handledRefusal(r)) return;
      if (r._status !== 200) {
        $("case-details").appendChild(el("dd", null, r.error || "The case could not be loaded."));
        return;
      }
      showCase(r);
    });
  }

  function detail(dl, term, value) {
    dl.appendChild(el("dt", null, term));
    var dd = el("dd");
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
    dl.appendChild(dd);
  }

  function showCase(c) {
    currentCase = c;
    $("case-title").textContent = "Case " + c.ref;
    var dl = clear($("case-details"));
    detail(dl, "Status", c.status_text || c.status);
    detail(dl, "Escalated", escalatedWords(c));
    detail(dl, "Category", c.category);
    detail(dl, "What happened", c.what);
    detail(dl, "When", c.when);
    detail(dl, "Where and links", c.where);
    detail(dl, "Reported by", c.reporter);
    detail(dl, "Handler", c.handler);
    detail(dl, "Submitted", c.created_at);
    // a new case is not acknowledged; the page's clock alone says whether it is late
    detail(dl, "Acknowledge by", c.ack_due + (c.state === "new" ? " (" + deadlineText(c) + ")" : ""));
    if (c.acknowledged_at) detail(dl, "Acknowledged", c.acknowledged_at);
    if (c.closed_at) detail(dl, "Closed", c.closed_at);

    // what the server says the case's state allows (its transition table)
    var actions = clear($("case-actions"));
    var allowed = c.actions || [];
    if (allowed.indexOf("acknowledge") >= 0) actions.appendChild(button("Acknowledge", "primary", acknowledge));
    if (allowed.indexOf("ask") >= 0) {
      actions.appendChild(button("Ask the reporter", null, function () { openForm("ask-form", "ask-text"); }));
    }
    if (allowed.indexOf("close") >= 0) {
      actions.appendChild(button("Close with outcome", "danger", function () { openForm("close-form", "close-text"); }));
    }
    if (!allowed.length) actions.appendChild(el("p", "hint", "This case is closed; nothing more can be done on it."));

    var history = clear($("case-history"));
    (c.events || []).forEach(function (ev) {
      var li = el("li");
      li.appendChild(timeEl(ev.at));
      li.appendChild(document.createTextNode(" \u2014 " + ev.kind + " by " + ev.actor + (ev.text ? ": " + ev.text : "")));
      history.appendChild(li);
    });
    if (!(c.events || []).length) history.appendChild(el("li", null, "Nothing yet."));

    var auditBox = $("case-audit-box");
    auditBox.hidden = !c.audit;
    if (c.audit) {
      var body = clear($("case-audit").tBodies[0]);
      c.audit.forEach(function (a) {
        var tr = el("tr");
        cell(tr, timeEl(a.at), null, true);
        cell(tr, a.actor);
        cell(tr, a.action);
        cell(tr, a.allowed ? "Allowed" : "Refused");
        cell(tr, a.via);
        body.appendChild(tr);
      });
    }
  }

  function openForm(formId, fieldId) {
    ["ask-form", "close-form"].forEach(function (id) { $(id).hidden = id !== formId; });
    setFieldError(fieldId, "");
    $(fieldId).focus();
  }

  function caseAction(action, body, fieldId) {
    if (!currentCase) return Promise.resolve();
    var ref = currentCase.ref;
    return send("POST", "/admin/api/cases/" + encodeURIComponent(ref) + "/" + action, body).then(function (r) {
      if (handledRefusal(r)) return;
      if (r._status === 200) {
        $("ask-form").hidden = $("close-form").hidden = true;
        if (fieldId) $(fieldId).value = "";
        if (r["case"]) showCase(r["case"]);
        else renderCase(ref);
        announce(r.message || "Done.");
        $("case-title").focus();
        return;
      }
      if (fieldId && r._status === 400) { setFieldError(fieldId, r.error || "That cannot be sent."); $(fieldId).focus(); return; }
      showError(r.error || "That could not be done.");
    });
  }

  function acknowledge() { caseAction("acknowledge", {}); }

  $("ask-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("ask-text").value.trim();
    if (!text) { setFieldError("ask-text", "Write the question for the reporter."); $("ask-text").focus(); return; }
    caseAction("ask", { question: text }, "ask-text");
  });

  $("close-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("close-text").value.trim();
    if (!text) { setFieldError("close-text", "Write the outcome the reporter will be told."); $("close-text").focus(); return; }
    caseAction("close", { outcome: text }, "close-text");
  });

  Array.prototype.forEach.call(document.querySelectorAll("#view-case form .cancel"), function (b) {
    b.addEventListener("click", function () {
      b.closest("form").hidden = true;
      var first = $("case-actions").querySelector("button");
      if (first) first.focus();
    });
  });

  boot();
})();
