// Tsunagi chat widget: one script tag on a client's site.
//   <script src="https://center.example/static/chat/widget.js" data-widget="<id>" async></script>
// Optional: data-lang="ja|en"; data-identity="<token>" for a visitor signed in on the
// client's site (signed by the site's server, see docs/operations.md). Everything the visitor and the communicator write is shown
// with textContent, never as HTML. The widget lives in a shadow root so the host page's
// styles and scripts do not reach into it.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.widget) return;
  var WIDGET = script.dataset.widget;
  var BASE = new URL(script.src, location.href).origin;
  var LANG = (script.dataset.lang || navigator.language || "ja").slice(0, 2) === "en" ? "en" : "ja";
  var STORE = "tsunagi-chat-" + WIDGET;
  var IDENTITY = script.dataset.identity || "";
  // The claims are signed, not secret: read them to fill the form (the center checks them).
  var CLAIMS = (function () {
    try {
      var part = IDENTITY.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(part))));
    } catch (e) { return {}; }
  })();
  var T = {
    ja: {
      open: "チャット", close: "閉じる", name: "お名前", member: "組合員番号（任意）", topic: "ご用件",
      email: "メールアドレス（任意）", transcript: "終了後に会話の記録をメールで受け取る", start: "チャットを始める",
      send: "送信", placeholder: "メッセージを入力", attach: "ファイル", human: "オペレーターと話す",
      end: "チャットを終了", ended: "チャットは終了しました。ありがとうございました。", typing: "入力中…",
      read: "既読", waiting: "担当者におつなぎしています…", closedTopic: "（受付時間外）", offlineSend: "送信する",
      subject: "件名", body: "お問い合わせ内容", offlineDone: "メッセージを受け付けました。メールでご返信します。",
      again: "新しいチャット", reconnecting: "再接続しています…", required: "必須項目を入力してください",
      consent: "入力内容はお問い合わせへの対応にのみ使用します。", more: "詳しく見る",
      csatQ: "今回の対応にどの程度満足されましたか？", csatLow: "1 = とても不満", csatHigh: "5 = とても満足",
      npsQ: "ご家族やご友人に当センターをすすめたいと思いますか？", npsLow: "0 = まったくそう思わない",
      npsHigh: "10 = 非常にそう思う", comment: "ご意見（任意・個人情報はご記入にならないでください）",
      surveySend: "回答する", surveyThanks: "ご回答ありがとうございました。", surveyPick: "点数を選んでください"
    },
    en: {
      open: "Chat", close: "Close", name: "Your name", member: "Member number (optional)", topic: "Topic",
      email: "Email (optional)", transcript: "Email me a transcript afterwards", start: "Start chat",
      send: "Send", placeholder: "Type a message", attach: "File", human: "Talk to a person",
      end: "End chat", ended: "The chat has ended. Thank you.", typing: "typing…", read: "Read",
      waiting: "Connecting you to someone…", closedTopic: " (closed now)", offlineSend: "Send",
      subject: "Subject", body: "Your message", offlineDone: "Thank you — we will answer by email.",
      again: "New chat", reconnecting: "Reconnecting…", required: "Please fill in the required fields",
      consent: "What you enter is used only to answer your enquiry.", more: "Read more",
      csatQ: "How satisfied were you with our help?", csatLow: "1 = very dissatisfied", csatHigh: "5 = very satisfied",
      npsQ: "How likely are you to recommend us to a friend or colleague?", npsLow: "0 = not at all likely",
      npsHigh: "10 = extremely likely", comment: "Anything else? (optional — please leave out personal details)",
      surveySend: "Send", surveyThanks: "Thank you for your answer.", surveyPick: "Please choose a score"
    }
  }[LANG];

  var host = document.createElement("div");
  host.setAttribute("data-tsunagi-chat", WIDGET);
  var root = host.attachShadow({ mode: "open" });
  document.body.appendChild(host);

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var state = load() || {};
  var config = null, socket = null, retry = 0, agentRead = 0, lastSeq = state.lastSeq || 0;
  var typingTimer = null, lastTypingSent = 0, seen = {};

  function load() { try { return JSON.parse(sessionStorage.getItem(STORE) || "null"); } catch (e) { return null; } }
  function save() { try { sessionStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode */ } }

  var style = el("style", { text: [
    ":host{all:initial}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;padding:12px 20px;color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}",
    ".panel{position:fixed;right:20px;bottom:80px;z-index:2147483000;width:340px;max-width:calc(100vw - 40px);height:480px;max-height:calc(100vh - 100px);background:#fff;color:#222;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;font:14px/1.5 system-ui,'Noto Sans JP',sans-serif;overflow:hidden}",
    ".panel[hidden]{display:none}",
    "header{color:#fff;padding:10px 14px;display:flex;justify-content:space-between;align-items:center;font-weight:600}",
    "header button{background:transparent;border:0;color:#fff;font-size:18px;cursor:pointer}",
    ".body{flex:1;overflow:auto;padding:12px}",
    "form label{display:block;margin:6px 0 2px;font-size:13px}",
    "input,select,textarea{width:100%;box-sizing:border-box;padding:6px;border:1px solid #bbb;border-radius:6px;font:inherit}",
    "input[type=checkbox]{width:auto;margin-right:6px}",
    "button.primary{margin-top:10px;width:100%;padding:8px;border:0;border-radius:6px;color:#fff;font:inherit;cursor:pointer}",
    ".msg{margin:6px 0;max-width:85%;padding:6px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}",
    ".msg.customer{margin-left:auto;background:#e6f0fb}",
    ".msg.agent,.msg.bot{background:#f1f1f1}",
    ".msg.system{background:none;color:#666;font-size:12px;text-align:center;max-width:100%}",
    ".who{display:block;font-size:11px;color:#666}",
    ".meta{display:block;font-size:11px;color:#888;text-align:right}",
    ".typing{font-size:12px;color:#666;min-height:18px;padding:0 12px}",
    ".compose{display:flex;gap:6px;padding:8px;border-top:1px solid #ddd}",
    ".compose textarea{height:40px;resize:none}",
    ".compose button{border:0;border-radius:6px;color:#fff;padding:0 10px;cursor:pointer;white-space:nowrap}",
    ".tools{display:flex;gap:6px;padding:0 8px 8px}",
    ".tools button,.tools label{flex:1;font-size:12px;padding:4px;border:1px solid #bbb;border-radius:6px;background:#fafafa;cursor:pointer;text-align:center}",
    ".error{color:#b00020;font-size:12px;min-height:16px}",
    ".notice{color:#555;font-size:13px}",
    "form.survey{margin:10px 0;padding:8px;border:1px solid #ddd;border-radius:8px}",
    ".question{margin:6px 0 4px;font-weight:600}",
    ".scale{display:flex;flex-wrap:wrap;gap:4px}",
    ".scale .pick{display:flex;flex-direction:column;align-items:center;min-width:26px;font-size:12px;margin:0}",
    ".scale .pick input{width:auto;margin:0}",
    ".ends{display:flex;justify-content:space-between;font-size:11px;color:#666}"
  ].join("\n") });

  var launcher = el("button", { class: "launcher", type: "button", "data-testid": "chat-launcher", text: T.open });
  var title = el("span", { text: "" });
  var closeButton = el("button", { type: "button", "aria-label": T.close, text: "×" });
  var header = el("header", {}, [title, closeButton]);
  var body = el("div", { class: "body", "aria-live": "polite" });
  var typing = el("div", { class: "typing", "data-testid": "chat-typing" });
  var errorLine = el("div", { class: "error", role: "alert", "data-testid": "chat-error" });
  var footer = el("div", {});
  var panel = el("div", { class: "panel", role: "dialog", "aria-label": T.open, hidden: "" }, [header, body, typing, errorLine, footer]);
  root.appendChild(style);
  root.appendChild(launcher);
  root.appendChild(panel);

  launcher.addEventListener("click", function () { panel.hidden = !panel.hidden; if (!panel.hidden) { start(); markRead(); } });
  closeButton.addEventListener("click", function () { panel.hidden = true; });

  function colour(node) { node.style.background = (config && config.theme.colour) || "#1d5fa8"; }

  // An error answer as the visitor reads it: a validation error names the field.
  function problem(data, status) {
    var first = Array.isArray(data.extra) && data.extra[0];
    if (first && first.key) return first.key + ": " + (first.message || data.detail);
    return data.detail || ("HTTP " + status);
  }

  function api(path, options) {
    return fetch(BASE + "/widget/" + WIDGET + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(problem(data, response.status));
        return data;
      });
    });
  }

  function start() {
    if (config) return;
    api("/config").then(function (data) {
      config = data;
      colour(launcher); colour(header);
      title.textContent = LANG === "en" ? data.theme.title_en : data.theme.title_ja;
      if (state.token) connect();
      else if (data.topics.some(function (t) { return t.open; })) showForm();
      else if (data.offline) showOffline();
      else notice(LANG === "en" ? data.theme.offline_en : data.theme.offline_ja);
    }).catch(function (e) { errorLine.textContent = e.message; });
  }
  colour(launcher);

  function notice(text) { body.replaceChildren(el("p", { class: "notice", text: text })); footer.replaceChildren(); }

  function field(label, input) { return el("label", { text: label }, [input]); }

  function showForm() {
    var name = el("input", { name: "name", required: "", maxlength: "100", autocomplete: "name" });
    var member = el("input", { name: "member_no", maxlength: "32", inputmode: "numeric" });
    var topic = el("select", { name: "topic" });
    config.topics.forEach(function (t) {
      var option = el("option", { value: t.code, text: (LANG === "en" ? t.label_en : t.label_ja) + (t.open ? "" : T.closedTopic) });
      if (!t.open) option.disabled = true;
      topic.appendChild(option);
    });
    var email = el("input", { name: "email", type: "email", maxlength: "254", autocomplete: "email" });
    var transcript = el("input", { type: "checkbox", name: "transcript" });
    if (typeof CLAIMS.name === "string") name.value = CLAIMS.name;
    if (typeof CLAIMS.member_no === "string") { member.value = CLAIMS.member_no; member.readOnly = true; }
    if (typeof CLAIMS.email === "string") email.value = CLAIMS.email;
    var form = el("form", { "data-testid": "chat-prechat" }, [
      el("p", { class: "notice", text: LANG === "en" ? config.theme.greeting_en : config.theme.greeting_ja }),
      field(T.name, name), field(T.member, member), field(T.topic, topic), field(T.email, email),
      el("label", {}, [transcript, document.createTextNode(T.transcript)]),
      el("p", { class: "notice", text: T.consent }),
      el("button", { class: "primary", type: "submit", text: T.start })
    ]);
    colour(form.querySelector("button.primary"));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!name.value.trim()) { errorLine.textContent = T.required; return; }
      var payload = { topic: topic.value, name: name.value, lang: LANG, transcript: transcript.checked,
        client_id: "c" + Math.random().toString(36).slice(2) + Date.now().toString(36) };
      if (member.value.trim()) payload.member_no = member.value.trim();
      if (email.value.trim()) payload.email = email.value.trim();
      if (IDENTITY) payload.identity = IDENTITY;
      api("/chats", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) })
        .then(function (data) {
          state = { token: data.token, conversation: data.conversation_id, lastSeq: 0 };
          save(); errorLine.textContent = ""; connect();
        })
        .catch(function (e) { errorLine.textContent = e.message; });
    });
    body.replaceChildren(form);
    footer.replaceChildren();
  }

  function showOffline() {
    var name = el("input", { name: "name", required: "", maxlength: "100" });
    var email = el("input", { name: "email", type: "email", required: "", maxlength: "254" });
    var subject = el("input", { name: "subject", required: "", maxlength: "200" });
    var text = el("textarea", { name: "body", required: "", maxlength: "8000", rows: "5" });
    var form = el("form", { "data-testid": "chat-offline" }, [
      el("p", { class: "notice", text: LANG === "en" ? config.theme.offline_en : config.theme.offline_ja }),
      field(T.name, name), field(T.email.replace(/（任意）| \(optional\)/, ""), email), field(T.subject, subject), field(T.body, text),
      el("button", { class: "primary", type: "submit", text: T.offlineSend })
    ]);
    colour(form.querySelector("button.primary"));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      api("/offline", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({
        name: name.value, email: email.value, subject: subject.value, body: text.value, lang: LANG,
        client_id: "o" + Math.random().toString(36).slice(2) + Date.now().toString(36) }) })
        .then(function () { notice(T.offlineDone); errorLine.textContent = ""; })
        .catch(function (e) { errorLine.textContent = e.message; });
    });
    body.replaceChildren(form);
    footer.replaceChildren();
  }

  var list = el("div", { "data-testid": "chat-messages" });
  var input = el("textarea", { placeholder: T.placeholder, "aria-label": T.placeholder, maxlength: "4000", "data-testid": "chat-input" });
  var sendButton = el("button", { type: "button", text: T.send, "data-testid": "chat-send" });
  var file = el("input", { type: "file", hidden: "", accept: ".png,.jpg,.jpeg,.gif,.pdf,.txt" });
  var humanButton = el("button", { type: "button", text: T.human, hidden: "", "data-testid": "chat-human" });
  var endButton = el("button", { type: "button", text: T.end, "data-testid": "chat-end" });
  var tools = el("div", { class: "tools" }, [el("label", { text: T.attach }, [file]), humanButton, endButton]);
  var compose = el("div", { class: "compose" }, [input, sendButton]);

  function showChat() {
    colour(sendButton);
    body.replaceChildren(list);
    footer.replaceChildren(compose, tools);
  }

  function connect() {
    showChat();
    var url = BASE.replace(/^http/, "ws") + "/ws/widget/" + WIDGET + "/chat";
    socket = new WebSocket(url);
    socket.onopen = function () { retry = 0; sentRead = 0; socket.send(JSON.stringify({ type: "auth", token: state.token, after: 0 })); };
    socket.onmessage = function (event) { receive(JSON.parse(event.data)); };
    socket.onclose = function (event) {
      socket = null;
      if (event.code === 1008) { state = {}; save(); list.replaceChildren(); showForm(); return; }
      if (state.closed) return;
      typing.textContent = T.reconnecting;
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, retry++)));
    };
  }

  function receive(frame) {
    if (frame.kind === "snapshot") {
      typing.textContent = "";
      agentRead = frame.conversation.agent_read_seq || 0;
      humanButton.hidden = frame.conversation.state !== "bot";
      frame.messages.forEach(render);
      if (frame.conversation.state === "closed") ended();
      else if (!frame.messages.some(function (m) { return m.author !== "customer"; })) note(T.waiting);
    } else if (frame.kind === "message") {
      render(frame.message);
      if (frame.message.author !== "customer") typing.textContent = "";
    } else if (frame.kind === "typing" && frame.side === "agent") {
      typing.textContent = frame.on ? T.typing : "";
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typing.textContent = ""; }, 5000);
    } else if (frame.kind === "read" && frame.side === "agent") {
      agentRead = Math.max(agentRead, frame.seq); showRead();
    } else if (frame.kind === "state") {
      if (frame.state === "closed") ended();
      humanButton.hidden = frame.state !== "bot";
    } else if (frame.kind === "error") {
      errorLine.textContent = frame.detail;
    }
    markRead();
  }

  function note(text) { list.appendChild(el("div", { class: "msg system", text: text })); }

  function render(message) {
    if (seen[message.id]) return;
    seen[message.id] = true;
    var node = el("div", { class: "msg " + message.author, "data-seq": String(message.seq), "data-testid": "chat-message" });
    if (message.author === "agent" && message.author_name) node.appendChild(el("span", { class: "who", text: message.author_name }));
    if (message.text) node.appendChild(el("span", { class: "text", text: message.text }));
    (message.flags || []).forEach(function (flag) {
      // The bot quotes a public article: link to the whole of it.
      if (flag.slice(0, 8) === "article:" && config && config.help_base) {
        node.appendChild(el("a", { class: "who", href: BASE + config.help_base + "/articles/" + encodeURIComponent(flag.slice(8)),
          target: "_blank", rel: "noopener noreferrer", text: T.more }));
      }
    });
    (message.attachments || []).forEach(function (a) { node.appendChild(el("span", { class: "who", text: "📎 " + a.filename })); });
    if (message.author === "customer") node.appendChild(el("span", { class: "meta" }));
    list.appendChild(node);
    lastSeq = Math.max(lastSeq, message.seq);
    state.lastSeq = lastSeq; save();
    showRead();
    body.scrollTop = body.scrollHeight;
  }

  function showRead() {
    list.querySelectorAll(".msg.customer").forEach(function (node) {
      var meta = node.querySelector(".meta");
      if (meta) meta.textContent = Number(node.dataset.seq) <= agentRead ? T.read : "";
    });
  }

  var sentRead = 0;
  function markRead() {
    if (socket && socket.readyState === 1 && !panel.hidden && lastSeq > sentRead) {
      sentRead = lastSeq;
      socket.send(JSON.stringify({ type: "read", seq: lastSeq }));
    }
  }

  function ended() {
    state.closed = true; save();
    note(T.ended);
    var again = el("button", { class: "primary", type: "button", text: T.again });
    colour(again);
    again.addEventListener("click", function () { state = {}; save(); seen = {}; list.replaceChildren(); showForm(); });
    footer.replaceChildren(again);
    if (socket) socket.close();
    askSurvey();
  }

  // After the chat: the center's survey (CSAT 1-5 and/or NPS 0-10), answered once.
  function askSurvey() {
    if (!state.token || state.surveyed) return;
    api("/survey", { headers: { "X-Visitor-Token": state.token } }).then(function (data) {
      if (data.survey) showSurvey(data.survey);
    }).catch(function () { /* no survey: nothing to show */ });
  }

  function scale(name, from, to, low, high, question) {
    var group = el("div", { class: "scale", role: "radiogroup", "aria-label": question, "data-testid": "survey-" + name });
    for (var score = from; score <= to; score++) {
      var input = el("input", { type: "radio", name: name, value: String(score), "aria-label": String(score) });
      group.appendChild(el("label", { class: "pick" }, [input, el("span", { text: String(score) })]));
    }
    return el("div", {}, [group, el("div", { class: "ends" }, [el("span", { text: low }), el("span", { text: high })])]);
  }

  function showSurvey(survey) {
    var parts = [];
    if (survey.questions !== "nps") parts.push(el("p", { class: "question", text: T.csatQ }), scale("csat", 1, 5, T.csatLow, T.csatHigh, T.csatQ));
    if (survey.questions !== "csat") parts.push(el("p", { class: "question", text: T.npsQ }), scale("nps", 0, 10, T.npsLow, T.npsHigh, T.npsQ));
    var comment = el("textarea", { name: "comment", maxlength: "2000", rows: "3", "data-testid": "survey-comment" });
    if (survey.comment) parts.push(field(T.comment, comment));
    var submit = el("button", { class: "primary", type: "submit", text: T.surveySend, "data-testid": "survey-send" });
    parts.push(submit);
    var form = el("form", { class: "survey", "data-testid": "chat-survey" }, parts);
    colour(submit);
    function picked(name) {
      var chosen = form.querySelector("input[name=" + name + "]:checked");
      return chosen ? Number(chosen.value) : null;
    }
    function done() {
      state.surveyed = true; save(); errorLine.textContent = "";
      form.replaceWith(el("p", { class: "notice", "data-testid": "survey-thanks", text: T.surveyThanks }));
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var payload = { token: survey.token, lang: LANG };
      if (picked("csat") !== null) payload.csat = picked("csat");
      if (picked("nps") !== null) payload.nps = picked("nps");
      if (payload.csat === undefined && payload.nps === undefined) { errorLine.textContent = T.surveyPick; return; }
      if (comment.value.trim()) payload.comment = comment.value.trim();
      api("/survey", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) })
        .then(done)
        .catch(function (e) { errorLine.textContent = e.message; });
    });
    list.appendChild(form);
    body.scrollTop = body.scrollHeight;
  }

  function send() {
    var text = input.value.trim();
    if (!text || !socket || socket.readyState !== 1) return;
    socket.send(JSON.stringify({ type: "message", id: "v" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8), text: text }));
    input.value = "";
    lastTypingSent = 0; // the next message's first keystroke is announced at once
  }
  sendButton.addEventListener("click", send);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
  });
  // "input" fires for IME and pasted text too (keydown does not, for composed Japanese).
  input.addEventListener("input", function () {
    var now = Date.now();
    if (socket && socket.readyState === 1 && now - lastTypingSent > 2000) {
      lastTypingSent = now; socket.send(JSON.stringify({ type: "typing", on: true }));
    }
  });
  humanButton.addEventListener("click", function () { if (socket) socket.send(JSON.stringify({ type: "human" })); humanButton.hidden = true; });
  endButton.addEventListener("click", function () { if (socket) socket.send(JSON.stringify({ type: "close" })); });
  file.addEventListener("change", function () {
    var chosen = file.files && file.files[0];
    if (!chosen) return;
    fetch(BASE + "/widget/" + WIDGET + "/chats/" + state.conversation + "/attachments?name=" + encodeURIComponent(chosen.name), {
      method: "POST", headers: { "Content-Type": chosen.type || "application/octet-stream", "X-Visitor-Token": state.token }, body: chosen
    }).then(function (response) {
      return response.json().then(function (data) { if (!response.ok) throw new Error(problem(data, response.status)); });
    }).catch(function (e) { errorLine.textContent = e.message; });
    file.value = "";
  });

  if (state.token && !state.closed) { panel.hidden = false; start(); }
})();
