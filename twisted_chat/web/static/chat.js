// twisted-chat web client: protocol v1 over a WebSocket, one text message per line.
//
// Contract (scripts and tests rely on it): #log holds one child per server line, with the
// class notice, error, public, private or echo, a .time, and for messages a .nick and a .text
// (plus one child of class "own" for each public message sent from this page, which the server
// does not echo, and of classes "own action" for each /me sent from it);
// #line is the input (Enter sends, Up/Down walk the history); #users holds one child per
// member of the current room (.op: its operator); #rooms one button per room (data-room, a
// .name and a .count; .current is ours; a click sends /unirse); #room-name and #room-topic
// show the current room; #status shows the connection state. All text goes in with
// textContent only. The page's own requests (/sala at login, /salas when a notice says a
// room changed) are answered in #log by nothing: their replies are not shown.
//
// History and recados (docs/PROTOCOL.md, version 1.1): a stored public message
// (`* [ISO] <nick> text`) is a #log child of class "history" (dimmed, never "public"); a recado
// (`* [ISO] *nick* text`) one of class "recado", copied into the #recados panel (#recados-list,
// its #recados-title the server's "you have N recados" line when one came; #recados-close hides
// it). Their .time shows the stored time in local time, with the ISO time in its dateTime and
// title. A line giving the command for older messages shows the #older button, which sends
// exactly that command (its data-command). The #search form sends `/buscar` and the text of
// #search-text.
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
      users: "En la sala",
      rooms: "Salas",
      operator: "Operador de la sala",
      line: "Mensaje o comando",
      nickname: "Elige un nickname",
      older: "Mensajes anteriores",
      search: "Buscar en la sala",
      searchButton: "Buscar",
      recados: "Recados",
      close: "Cerrar",
    },
    en: {
      connecting: "Connecting…",
      open: "Connected",
      closed: "Disconnected.",
      retry: (s) => `Disconnected: retrying in ${s} s.`,
      quit: "Disconnected. Press Enter to connect again.",
      users: "In the room",
      rooms: "Rooms",
      operator: "Room operator",
      line: "Message or command",
      nickname: "Choose a nickname",
      older: "Older messages",
      search: "Search the room",
      searchButton: "Search",
      recados: "Memos",
      close: "Close",
    },
  }[LANG];

  // What the server says, read with its own templates (twisted_chat/text.py), which the page
  // carries for every language (#texts): a configuration reload may change the language.
  const TEMPLATES = JSON.parse(document.getElementById("texts").textContent || "{}");
  const FIELDS = {
    nick: "(\\S+?)",
    new: "(\\S+)",
    room: "(.+?)",
    count: "(\\d+)",
    max: "(\\d+)",
    n: "(\\d+)",
    cursor: "([A-Za-z0-9_-]+)",
  };
  // One server text -> its fields ({nick: ..., room: ...}) if some language's template `key`
  // matches it whole, else null.
  function matcher(key) {
    const patterns = [];
    for (const texts of Object.values(TEMPLATES)) {
      const template = texts[key];
      if (typeof template !== "string") continue;
      const names = [];
      let source = "";
      for (const part of template.split(/(\{\w+\})/)) {
        const field = /^\{(\w+)\}$/.exec(part);
        if (field) {
          names.push(field[1]);
          source += FIELDS[field[1]] || "(.*)";
        } else {
          source += part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        }
      }
      patterns.push([new RegExp(`^${source}$`), names]);
    }
    return (text) => {
      for (const [pattern, names] of patterns) {
        const m = pattern.exec(text);
        if (m) return Object.fromEntries(names.map((name, i) => [name, m[i + 1]]));
      }
      return null;
    };
  }
  const WELCOME = matcher("welcome");
  const JOINED = matcher("joined"); // logged in, into our room
  const LEFT = matcher("left"); // left the chat, from our room
  const ROOM_JOINED = matcher("room_joined"); // moved into our room
  const ROOM_LEFT = matcher("room_left"); // moved out of our room
  const ROOM_KICKED = matcher("room_kicked"); // sent out of our room (an IRC KICK)
  const RENAMED = matcher("renamed"); // someone of our room (or we) changed nickname (/nick)
  const ROOMS = matcher("salas"); // the reply to /salas
  const ROOM = matcher("sala"); // our room and its members (/sala, /unirse)
  const TOPIC = matcher("tema"); // follows the room line, or answers /tema
  const NO_TOPIC = matcher("no_topic");
  const TOPIC_SET = matcher("topic_set");
  const JOIN_REFUSED = [matcher("room_usage"), matcher("room_invalid"), matcher("rooms_full")];
  // A stored line (docs/PROTOCOL.md, version 1.1): its time, then a public sender (history) or
  // a recado's sender, then the text.
  const STORED = /^\* \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] (?:<([^>\s]+)>|\*([^*\s]+)\*) ([\s\S]*)$/;
  // A stored action (`* [TIME] ** NICK TEXT`), and a live one (`** NICK TEXT`): /me, IRC's ACTION.
  const STORED_ACTION = /^\* \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] \*\* (\S+) ([\s\S]*)$/;
  const ACTION = /^\*\* (\S+) ([\s\S]*)$/;
  // The lines that give the command for older messages (after /historial, or after the
  // "since you left" replay at login): the command is what follows the last ": ".
  const OLDER = [matcher("history_more"), matcher("history_missed")];
  // Before the recados delivered at login (one, or several).
  const RECADOS_HEADERS = [matcher("recados_header"), matcher("recado_header_one")];
  // Lines with a password are kept out of the history (so is everything typed at the prompt).
  const SECRET = /^\/(?:registrar|register|password)\b/i;
  // A room name as the server accepts it (twisted_chat/roomnames.py).
  const ROOM_NAME = /^[A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u00FF0-9][A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u00FF0-9_-]{0,31}$/;
  // The page's own requests (/salas, /sala) are sent at most this often, in milliseconds.
  const ASK_INTERVAL = 1000;
  // A reply awaited longer than this is given up (the line may have been dropped).
  const REPLY_TIMEOUT = 10000;

  const log = document.getElementById("log");
  const line = document.getElementById("line");
  const form = document.getElementById("send");
  const users = document.getElementById("users");
  const rooms = document.getElementById("rooms");
  const roomName = document.getElementById("room-name");
  const roomTopic = document.getElementById("room-topic");
  const status = document.getElementById("status");
  const older = document.getElementById("older");
  const searchForm = document.getElementById("search");
  const searchText = document.getElementById("search-text");
  const recados = document.getElementById("recados");
  const recadosTitle = document.getElementById("recados-title");
  const recadosList = document.getElementById("recados-list");

  document.getElementById("users-title").textContent = TEXT.users;
  document.getElementById("rooms-title").textContent = TEXT.rooms;
  document.getElementById("line-label").textContent = TEXT.line;
  document.getElementById("search-label").textContent = TEXT.search;
  document.getElementById("search-button").textContent = TEXT.searchButton;
  document.getElementById("recados-close").textContent = TEXT.close;
  older.textContent = TEXT.older;
  searchText.placeholder = TEXT.search;

  let socket = null;
  let me = null; // our nickname once logged in
  let tried = null; // the nickname line sent at the prompt, until the server answers
  let lastNick = null; // the nickname to send again after a reconnect (none if it had a password)
  let lastRoom = null; // the room to go back to after a reconnect
  let quitting = false;
  let delay = 1000;
  let retryTimer = null;
  const people = new Map(); // the members of our room: casefolded nickname -> spelling
  let room = null; // our room's name, once known
  let topic = null; // its topic (null: none)
  let operator = null; // the casefolded nickname of its operator, if any
  let roomList = []; // [name, count] for every room, from the last /salas
  // The replies awaited, in the order the commands were sent (the server answers in order):
  // for /salas, and for the commands answered by a room line (/sala, /unirse). An entry is
  // {quiet, join, at}: quiet ones were the page's own requests, and their replies are not shown.
  const awaitingRooms = [];
  const awaitingRoom = [];
  let hideTopic = false; // the next line is the topic line of a room line not shown
  let lastAsk = 0; // when the page last asked for /salas itself
  let askTimer = null;
  let askAgain = false; // something changed while a quiet /salas was awaited
  const history = [];
  let historyAt = 0;

  function setStatus(state, text) {
    status.className = "state-" + state;
    status.textContent = text;
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  // `when` (a Date) as the log shows it: the local time, and the local date too if it is not
  // today's.
  function clock(when) {
    const time = `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
    const today = new Date();
    if (when.toDateString() === today.toDateString()) return time;
    return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ${time}`;
  }

  // One line element: its .time (now, or the stored time `at`, an ISO string), .nick, .text.
  function item(kind, nick, text, at) {
    const li = document.createElement("li");
    li.className = kind;
    const when = at ? new Date(at) : new Date();
    const time = document.createElement("time");
    time.className = "time";
    time.dateTime = at || when.toISOString();
    time.textContent = clock(when);
    if (at) time.title = at;
    li.append(time);
    if (nick !== null) {
      const who = document.createElement("span");
      who.className = "nick";
      who.textContent = nick;
      li.append(who);
    }
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(body);
    return li;
  }

  function add(kind, nick, text, at) {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(item(kind, nick, text, at));
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  // A recado, into the #recados panel (shown; a panel that was closed starts empty).
  function addRecado(nick, text, at) {
    if (recados.hidden) {
      recadosList.replaceChildren();
      recadosTitle.textContent = TEXT.recados;
      recados.hidden = false;
    }
    recadosList.append(item("recado", nick, text, at));
  }

  // The server's "you have N recados" line: the panel's title, before the recados it announces.
  function recadosHeader(text) {
    recadosList.replaceChildren();
    recadosTitle.textContent = text;
    recados.hidden = false;
  }

  // Show #older for `command` (null: hide it).
  function offerOlder(command) {
    older.dataset.command = command === null ? "" : command;
    older.hidden = command === null;
  }

  // One server line -> [kind, nick or null, text, stored time or undefined] (docs/PROTOCOL.md,
  // "Server lines" and version 1.1's stored lines).
  function parse(raw) {
    let m;
    if ((m = STORED.exec(raw))) {
      return m[2] !== undefined ? ["history", m[2], m[4], m[1]] : ["recado", m[3], m[4], m[1]];
    }
    if ((m = STORED_ACTION.exec(raw))) return ["history action", m[2], m[3], m[1]];
    if ((m = ACTION.exec(raw))) return ["action", m[1], m[2]];
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

  function byKey(a, b) {
    return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
  }

  function renderUsers() {
    const sorted = [...people.entries()].sort(byKey);
    const children = sorted.map(([k, nick]) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "user";
      button.dataset.nick = nick;
      button.textContent = nick;
      if (me !== null && k === key(me)) button.classList.add("me");
      if (k === operator) {
        button.classList.add("op");
        button.title = TEXT.operator;
      }
      button.addEventListener("click", () => {
        line.value = `#${nick} `;
        line.focus();
        line.setSelectionRange(line.value.length, line.value.length);
      });
      item.append(button);
      return item;
    });
    users.replaceChildren(...children);
    // Our own room's count is known here before /salas says it.
    const ours = room === null ? null : roomList.find(([name]) => key(name) === key(room));
    if (ours && people.size > 0 && ours[1] !== people.size) {
      ours[1] = people.size;
      renderRooms();
    }
  }

  function renderRoom() {
    roomName.textContent = room === null ? "" : room;
    roomTopic.textContent = topic === null ? "" : topic;
    roomTopic.title = topic === null ? "" : topic;
  }

  function renderRooms() {
    const children = roomList.map(([name, count]) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "room";
      button.dataset.room = name;
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const number = document.createElement("span");
      number.className = "count";
      number.textContent = String(count);
      button.append(label, " ", number);
      if (room !== null && key(name) === key(room)) {
        button.classList.add("current");
        button.setAttribute("aria-current", "true");
      }
      button.addEventListener("click", () => {
        if (room !== null && key(name) === key(room)) return;
        command(`/unirse ${name}`, false);
        line.focus();
      });
      item.append(button);
      return item;
    });
    rooms.replaceChildren(...children);
  }

  function forgetRooms() {
    people.clear();
    room = null;
    topic = null;
    operator = null;
    roomList = [];
    awaitingRooms.length = 0;
    awaitingRoom.length = 0;
    hideTopic = false;
    askAgain = false;
    offerOlder(null);
    if (askTimer !== null) clearTimeout(askTimer);
    askTimer = null;
    renderUsers();
    renderRoom();
    renderRooms();
  }

  // The oldest reply awaited in `queue` (given up ones dropped), taken out of it; or null.
  function awaited(queue) {
    const now = Date.now();
    while (queue.length > 0 && now - queue[0].at > REPLY_TIMEOUT) queue.shift();
    return queue.length > 0 ? queue.shift() : null;
  }

  // Ask the server for the room list, quietly: at most one request awaited at a time, and
  // at most one every ASK_INTERVAL.
  function askRooms() {
    if (me === null) return;
    if (awaitingRooms.some((entry) => entry.quiet && Date.now() - entry.at <= REPLY_TIMEOUT)) {
      askAgain = true;
      return;
    }
    if (askTimer !== null) return;
    const wait = Math.max(0, lastAsk + ASK_INTERVAL - Date.now());
    askTimer = setTimeout(() => {
      askTimer = null;
      lastAsk = Date.now();
      if (me !== null && send("/salas", false)) {
        awaitingRooms.push({ quiet: true, join: false, at: lastAsk });
      }
    }, wait);
  }

  // Our room, from a room line: its name, members and operator (`@`).
  function roomLine(fields) {
    const moved = room === null || key(room) !== key(fields.room);
    if (room !== null && moved) offerOlder(null); // its cursor is for the room we left
    room = lastRoom = fields.room;
    topic = null;
    operator = null;
    people.clear();
    for (let nick of fields.nicks.split(", ")) {
      if (nick.startsWith("@")) {
        nick = nick.slice(1);
        operator = key(nick);
      }
      if (nick) people.set(key(nick), nick);
    }
    renderUsers();
    renderRoom();
    renderRooms();
    if (moved) askRooms();
  }

  // What a notice changes on the page; false if it is to be kept out of #log (the reply to
  // one of the page's own requests).
  function notice(text) {
    let m;
    if (hideTopic) {
      hideTopic = false;
      if ((m = TOPIC(text))) {
        topic = m.topic;
        renderRoom();
        return false;
      }
      if (NO_TOPIC(text)) return false;
    }
    if (me === null && tried !== null && (m = WELCOME(text))) {
      me = m.nick;
      lastNick = tried.includes(" ") || tried.includes("\t") ? null : me;
      tried = null;
      forgetRooms();
      people.set(key(me), me);
      renderUsers();
      line.placeholder = "";
      // Our room (back to the one we were in, after a lost connection) and the room list,
      // asked for quietly.
      const back = lastRoom !== null;
      if (send(back ? `/unirse ${lastRoom}` : "/sala", false)) {
        awaitingRoom.push({ quiet: true, join: back, at: Date.now() });
      }
      askRooms();
    } else if (me === null) {
      // At the prompt nothing else is about rooms.
    } else if ((m = ROOM(text))) {
      const entry = awaited(awaitingRoom);
      roomLine(m);
      if (entry !== null && entry.quiet) {
        hideTopic = true;
        return false;
      }
    } else if ((m = ROOMS(text))) {
      const entry = awaited(awaitingRooms);
      roomList = [];
      for (const item of m.rooms.split(", ")) {
        const listed = /^(.+) \((\d+)\)$/.exec(item);
        if (listed) roomList.push([listed[1], Number(listed[2])]);
      }
      renderRooms();
      if (entry !== null && entry.quiet) {
        if (askAgain) {
          askAgain = false;
          askRooms();
        }
        return false;
      }
    } else if ((m = TOPIC(text))) {
      topic = m.topic;
      renderRoom();
    } else if ((m = NO_TOPIC(text))) {
      if (room !== null && key(m.room) === key(room)) {
        topic = null;
        renderRoom();
      }
    } else if ((m = TOPIC_SET(text))) {
      topic = m.topic;
      renderRoom();
    } else if ((m = RENAMED(text))) {
      // Our room's member list, its operator and our own nickname follow the change.
      const was = key(m.nick);
      if (people.has(was)) {
        people.delete(was);
        people.set(key(m.new), m.new);
      }
      if (operator === was) operator = key(m.new);
      if (me !== null && key(me) === was) {
        me = m.new;
        if (lastNick !== null) lastNick = me; // a reconnect logs in with the new nickname
      }
      renderUsers();
    } else if ((m = JOINED(text) || ROOM_JOINED(text))) {
      people.set(key(m.nick), m.nick);
      renderUsers();
      askRooms();
    } else if ((m = LEFT(text) || ROOM_LEFT(text) || ROOM_KICKED(text))) {
      people.delete(key(m.nick));
      if (LEFT(text) && key(m.nick) === operator) operator = null; // gone from the chat
      renderUsers();
      askRooms();
    }
    return true;
  }

  function error(text) {
    if (me === null) {
      tried = null;
      return;
    }
    // A refused /unirse gets no room line.
    if (awaitingRoom.length > 0 && awaitingRoom[0].join && JOIN_REFUSED.some((m) => m(text))) {
      awaitingRoom.shift();
    }
  }

  function received(raw) {
    const [kind, nick, text, at] = parse(raw);
    if (kind === "notice" && !notice(text)) return;
    if (kind !== "notice") hideTopic = false;
    if (kind === "error") error(text);
    let extra = "";
    if (kind === "notice") {
      const at = text.lastIndexOf(": /");
      if (at >= 0 && OLDER.some((m) => m(text))) {
        offerOlder(text.slice(at + 2));
        extra = " older-hint";
      } else if (RECADOS_HEADERS.some((m) => m(text))) {
        recadosHeader(text);
        extra = " recados-header";
      }
    } else if (kind === "recado") {
      addRecado(nick, text, at);
    }
    add(kind + extra, nick, text, at);
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

  // Send a line of the user's (typed, or a click on a room); note the replies it awaits.
  function command(text, remember) {
    const loggedIn = me !== null;
    if (!send(text, remember)) return false;
    if (!loggedIn || !text.startsWith("/")) return true;
    const body = text.slice(1);
    const cut = body.search(/[ \t]/);
    const word = (cut < 0 ? body : body.slice(0, cut)).toLowerCase();
    const args = cut < 0 ? "" : body.slice(cut + 1);
    const at = Date.now();
    if (word === "salas" || word === "rooms") {
      awaitingRooms.push({ quiet: false, join: false, at });
    } else if (word === "sala" || word === "room") {
      awaitingRoom.push({ quiet: false, join: false, at });
    } else if (word === "unirse" || word === "join") {
      let name = args.replace(/^[ \t]+|[ \t]+$/g, "").normalize("NFC");
      if (name.startsWith("#")) name = name.slice(1);
      // An invalid name gets an error and no room line.
      if (ROOM_NAME.test(name)) awaitingRoom.push({ quiet: false, join: true, at });
    }
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
      forgetRooms();
      if (quitting) {
        lastNick = null;
        lastRoom = null;
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
    if (!command(text, true)) return;
    line.value = "";
    if (loggedIn && !/^[/#]/.test(text) && /[^ \t]/.test(text)) add("own", me, text);
    // An action of ours (/me TEXT) is not echoed either: shown as the others see it.
    const action = loggedIn ? /^\/me[ \t]+([\s\S]*[^ \t][\s\S]*)$/i.exec(text) : null;
    if (action) add("own action", me, action[1].trim());
  });

  older.addEventListener("click", () => {
    const text = older.dataset.command;
    if (text && command(text, false)) offerOlder(null);
    line.focus();
  });

  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = searchText.value.replace(/^[ \t]+|[ \t]+$/g, "");
    if (text === "" || me === null) return;
    command(`/buscar ${text}`, false);
  });

  document.getElementById("recados-close").addEventListener("click", () => {
    recados.hidden = true;
    recadosList.replaceChildren();
    line.focus();
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

  // Counts of other rooms change without a notice here: look again when the user comes back.
  window.addEventListener("focus", askRooms);

  connect();
})();
