// twisted-chat web client: protocol v1 over a WebSocket, one text message per line.
//
// Contract (scripts and tests rely on it): #log holds one child per server line, with the
// class notice, error, public, private or echo, a .time, and for messages a .nick and a .text
// (plus one child of class "own" for each public message sent from this page, which the server
// does not echo);
// #line is the input (Enter sends, Up/Down walk the history); #users holds one child per
// connected user; #status shows the connection state. All text goes in with textContent only.
"use strict";

(function () {
  const LANG = document.documentElement.lang === "en" ? "en" : "es";
  const TEXT = {
    es: {
      connecting: "Conectando…",
      open: "Conectado",
      closed: "Desconectado.",
      retry: (s) => `Desconectado: reintento en ${s} s.`,
      quit: "Desconectado. Pulsa Intro para volver a conectar.",
      users: "Conectados",
      line: "Mensaje o comando",
      nickname: "Elige un nickname",
    },
    en: {
      connecting: "Connecting…",
      open: "Connected",
      closed: "Disconnected.",
      retry: (s) => `Disconnected: retrying in ${s} s.`,
      quit: "Disconnected. Press Enter to connect again.",
      users: "Connected",
      line: "Message or command",
      nickname: "Choose a nickname",
    },
  }[LANG];

  // What the server says about people (its catalogues, both languages; see twisted_chat/text.py).
  const WELCOME = /^(?:Bienvenido, |Welcome, )([^\s.,]+)\./;
  const JOINED = /^(\S+) (?:se ha unido al chat|joined the chat)\.$/;
  const LEFT = /^(\S+) (?:ha salido del chat|left the chat)\.$/;
  const LISTING = /^(?:Conectados|Connected) \(\d+\): (.*)$/;
  // Lines with a password are kept out of the history (so is everything typed at the prompt).
  const SECRET = /^\/(?:registrar|register|password)\b/i;

  const log = document.getElementById("log");
  const line = document.getElementById("line");
  const form = document.getElementById("send");
  const users = document.getElementById("users");
  const status = document.getElementById("status");

  document.getElementById("users-title").textContent = TEXT.users;
  document.getElementById("line-label").textContent = TEXT.line;

  let socket = null;
  let me = null; // our nickname once logged in
  let tried = null; // the nickname line sent at the prompt, until the server answers
  let lastNick = null; // the nickname to send again after a reconnect (none if it had a password)
  let quitting = false;
  let delay = 1000;
  let retryTimer = null;
  const people = new Map(); // casefolded nickname -> spelling
  const history = [];
  let historyAt = 0;

  function setStatus(state, text) {
    status.className = "state-" + state;
    status.textContent = text;
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function add(kind, nick, text) {
    const item = document.createElement("li");
    item.className = kind;
    const now = new Date();
    const time = document.createElement("time");
    time.className = "time";
    time.dateTime = now.toISOString();
    time.textContent = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    item.append(time);
    if (nick !== null) {
      const who = document.createElement("span");
      who.className = "nick";
      who.textContent = nick;
      item.append(who);
    }
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.append(body);
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(item);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  // One server line -> [kind, nick or null, text] (docs/PROTOCOL.md, "Server lines").
  function parse(raw) {
    let m;
    if (raw.startsWith("* ")) return ["notice", null, raw.slice(2)];
    if (raw.startsWith("! ")) return ["error", null, raw.slice(2)];
    if ((m = /^-> \*([^*\s]+)\* ([\s\S]*)$/.exec(raw))) return ["echo", m[1], m[2]];
    if ((m = /^<([^>\s]+)> ([\s\S]*)$/.exec(raw))) return ["public", m[1], m[2]];
    if ((m = /^\*([^*\s]+)\* ([\s\S]*)$/.exec(raw))) return ["private", m[1], m[2]];
    return ["notice", null, raw];
  }

  function key(nick) {
    return nick.normalize("NFC").toLowerCase();
  }

  function renderUsers() {
    const sorted = [...people.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const children = sorted.map(([k, nick]) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "user";
      button.dataset.nick = nick;
      button.textContent = nick;
      if (me !== null && k === key(me)) button.classList.add("me");
      button.addEventListener("click", () => {
        line.value = `#${nick} `;
        line.focus();
        line.setSelectionRange(line.value.length, line.value.length);
      });
      item.append(button);
      return item;
    });
    users.replaceChildren(...children);
  }

  function notice(text) {
    let m;
    if (me === null && tried !== null && (m = WELCOME.exec(text))) {
      me = m[1];
      lastNick = tried.includes(" ") || tried.includes("\t") ? null : me;
      tried = null;
      people.clear();
      people.set(key(me), me);
      renderUsers();
      line.placeholder = "";
      send("/listar", false);
    } else if ((m = JOINED.exec(text))) {
      people.set(key(m[1]), m[1]);
      renderUsers();
    } else if ((m = LEFT.exec(text))) {
      people.delete(key(m[1]));
      renderUsers();
    } else if ((m = LISTING.exec(text))) {
      people.clear();
      for (const nick of m[1].split(", ")) if (nick) people.set(key(nick), nick);
      renderUsers();
    }
  }

  function received(raw) {
    const [kind, nick, text] = parse(raw);
    add(kind, nick, text);
    if (kind === "notice") notice(text);
    else if (kind === "error" && me === null) tried = null;
  }

  function send(text, remember) {
    if (socket === null || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(text);
    if (me === null) tried = text;
    if (remember && me !== null && !SECRET.test(text)) {
      if (history[history.length - 1] !== text) history.push(text);
      if (history.length > 200) history.shift();
      historyAt = history.length;
    }
    const command = text.trim().toLowerCase();
    if (me !== null && (command === "/salir" || command === "/quit")) quitting = true;
    return true;
  }

  function connect() {
    retryTimer = null;
    quitting = false;
    setStatus("connecting", TEXT.connecting);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    socket = ws;
    ws.addEventListener("open", () => {
      delay = 1000;
      setStatus("open", TEXT.open);
      line.placeholder = TEXT.nickname;
      if (lastNick !== null) send(lastNick, false);
    });
    ws.addEventListener("message", (event) => {
      if (typeof event.data === "string") received(event.data);
    });
    ws.addEventListener("close", () => {
      if (socket !== ws) return;
      socket = null;
      me = null;
      tried = null;
      people.clear();
      renderUsers();
      if (quitting) {
        lastNick = null;
        setStatus("closed", TEXT.quit);
        return;
      }
      const wait = Math.round(delay * (0.8 + 0.4 * Math.random()));
      delay = Math.min(delay * 2, 30000);
      setStatus("closed", TEXT.retry(Math.max(1, Math.round(wait / 1000))));
      retryTimer = setTimeout(connect, wait);
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = line.value;
    if (socket === null) {
      if (retryTimer !== null) clearTimeout(retryTimer);
      connect();
      return;
    }
    if (text === "") return;
    const loggedIn = me !== null;
    if (!send(text, true)) return;
    line.value = "";
    if (loggedIn && !/^[/#]/.test(text) && /[^ \t]/.test(text)) add("own", me, text);
  });

  line.addEventListener("keydown", (event) => {
    if (event.key === "ArrowUp" && historyAt > 0) {
      historyAt -= 1;
      line.value = history[historyAt];
    } else if (event.key === "ArrowDown" && historyAt < history.length) {
      historyAt += 1;
      line.value = historyAt < history.length ? history[historyAt] : "";
    } else {
      return;
    }
    event.preventDefault();
    line.setSelectionRange(line.value.length, line.value.length);
  });

  connect();
})();
