// The chat demo's page logic. No framework, no build step.
//
// Every string that comes from the server or another user is put on the page with
// textContent / setAttribute / Node.append(string) only: never innerHTML.
"use strict";

(function () {
  const ACK_TIMEOUT_MS = 8000;
  const ROOMS_REFRESH_DEBOUNCE_MS = 300;
  const ACTIVITY = "activity";
  const BASE_TITLE = document.title;

  // ------------------------------------------------------------------ DOM helpers

  const $ = (id) => document.getElementById(id);

  /** createElement with options; string children become text nodes. */
  function el(tag, opts, ...children) {
    const node = document.createElement(tag);
    const o = opts || {};
    if (o.className) node.className = o.className;
    if (o.text != null) node.textContent = String(o.text);
    if (o.attrs) for (const [k, v] of Object.entries(o.attrs)) if (v != null) node.setAttribute(k, String(v));
    if (o.data) for (const [k, v] of Object.entries(o.data)) if (v != null) node.dataset[k] = String(v);
    if (o.on) for (const [k, f] of Object.entries(o.on)) node.addEventListener(k, f);
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  const ui = {
    status: $("status"),
    online: $("online"),
    nickForm: $("nick-form"),
    nick: $("nick"),
    nickSave: $("nick-save"),
    nickError: $("nick-error"),
    roomForm: $("room-form"),
    roomInput: $("room-input"),
    roomError: $("room-error"),
    roomsRefresh: $("rooms-refresh"),
    roomList: $("room-list"),
    roomListEmpty: $("room-list-empty"),
    people: $("people"),
    peopleEmpty: $("people-empty"),
    tabs: $("tabs"),
    convTitle: $("conv-title"),
    members: $("members"),
    panes: $("panes"),
    composerForm: $("composer-form"),
    composer: $("composer"),
    send: $("send"),
    composerError: $("composer-error"),
    menuToggle: $("menu-toggle"),
    backdrop: $("backdrop"),
  };

  function showError(node, message) {
    node.textContent = message;
    node.hidden = false;
  }

  function clearError(node) {
    node.textContent = "";
    node.hidden = true;
  }

  function errorText(res) {
    if (res && typeof res.error === "string" && res.error.trim() !== "") return res.error;
    return "the server refused this";
  }

  function formatTime(ts) {
    const d = new Date(typeof ts === "number" ? ts : Date.now());
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // ------------------------------------------------------------------ state

  const state = {
    me: { id: null, name: null },
    wantedNick: null, // the name the user chose: set again after a reconnect
    connected: false,
    welcomed: false, // at least one welcome seen (so the next one is a reconnect)
    users: new Map(), // id -> name, everyone ever seen
    online: new Set(), // ids of other users believed online
    rooms: new Map(), // joined room name -> Map(id -> name) of members
    convs: new Map(), // key -> conversation (insertion order = tab order)
    active: ACTIVITY,
    pending: false, // a message is on its way
    roomsTimer: null,
  };

  const roomKey = (room) => "room:" + room;
  const dmKey = (id) => "dm:" + id;
  const nameOf = (id) => state.users.get(id) || "user " + String(id).slice(0, 6);

  /** Records what a user is called; re-renders whatever shows that name. */
  function learnUser(user) {
    if (!user || typeof user.id !== "string") return;
    const name = typeof user.name === "string" ? user.name : nameOf(user.id);
    const before = state.users.get(user.id);
    state.users.set(user.id, name);
    if (before !== name) {
      for (const members of state.rooms.values()) if (members.has(user.id)) members.set(user.id, name);
      const dm = state.convs.get(dmKey(user.id));
      if (dm) dm.label = "@ " + name;
      renderTabs();
      renderPeople();
      renderHeader();
    }
  }

  function markOnline(id) {
    if (!id || id === state.me.id) return;
    if (!state.online.has(id)) {
      state.online.add(id);
      renderPeople();
    }
  }

  // ------------------------------------------------------------------ conversations

  function createConv(key, kind, target, label) {
    const list = el("ol", { className: "messages", attrs: { "aria-live": "polite" } });
    const pane = el("section", {
      className: "pane",
      data: { conv: key, kind },
      attrs: { "aria-label": label, tabindex: "-1" },
    }, list);
    pane.hidden = true;
    ui.panes.append(pane);
    const conv = { key, kind, target, label, pane, list, unread: 0, online: true };
    state.convs.set(key, conv);
    renderTabs();
    return conv;
  }

  function ensureRoomConv(room) {
    return state.convs.get(roomKey(room)) || createConv(roomKey(room), "room", room, "# " + room);
  }

  function ensureDmConv(id) {
    return state.convs.get(dmKey(id)) || createConv(dmKey(id), "dm", id, "@ " + nameOf(id));
  }

  function removeConv(key) {
    const conv = state.convs.get(key);
    if (!conv || key === ACTIVITY) return;
    conv.pane.remove();
    state.convs.delete(key);
    if (state.active === key) {
      const keys = [...state.convs.keys()];
      activate(keys[keys.length - 1] || ACTIVITY);
    } else {
      renderTabs();
    }
  }

  function activate(key) {
    if (!state.convs.has(key)) key = ACTIVITY;
    state.active = key;
    for (const conv of state.convs.values()) conv.pane.hidden = conv.key !== key;
    const conv = state.convs.get(key);
    conv.unread = 0;
    conv.pane.classList.add("active");
    for (const other of state.convs.values()) if (other !== conv) other.pane.classList.remove("active");
    scrollToEnd(conv, true);
    clearError(ui.composerError);
    renderTabs();
    renderHeader();
    renderComposer();
    renderRoomList();
  }

  function nearEnd(conv) {
    const p = conv.pane;
    return p.scrollHeight - p.scrollTop - p.clientHeight < 80;
  }

  function scrollToEnd(conv, force) {
    if (force || conv.stick) conv.pane.scrollTop = conv.pane.scrollHeight;
  }

  function append(conv, node) {
    conv.stick = conv.pane.hidden || nearEnd(conv);
    conv.list.append(node);
    scrollToEnd(conv, false);
  }

  function bump(conv) {
    if (conv.key === state.active) return;
    conv.unread += 1;
    renderTabs();
  }

  function addNotice(conv, text, kind) {
    const li = el("li", {
      className: "notice" + (kind ? " notice-" + kind : ""),
      data: { testid: "notice" },
    },
    el("span", { className: "notice-text", text }),
    el("time", { className: "msg-time", text: formatTime(Date.now()) }));
    append(conv, li);
  }

  function addMessage(conv, from, text, ts, own) {
    const who = own
      ? el("span", { className: "msg-from", text: from.name })
      : el("button", {
        className: "msg-from",
        text: from.name,
        attrs: { type: "button", title: "Message " + from.name + " directly" },
        on: { click: () => openDm(from.id) },
      });
    const stamp = typeof ts === "number" ? ts : Date.now();
    const li = el("li", {
      className: own ? "msg own" : "msg",
      data: { testid: "msg", fromId: from.id, fromName: from.name },
    },
    el("div", { className: "msg-meta" },
      who,
      own ? el("span", { className: "msg-you", text: "you" }) : null,
      el("time", {
        className: "msg-time",
        text: formatTime(stamp),
        attrs: { datetime: new Date(stamp).toISOString(), title: new Date(stamp).toLocaleString() },
      })),
    el("div", { className: "msg-text", text }));
    append(conv, li);
    if (!own) bump(conv);
  }

  function activity() {
    return state.convs.get(ACTIVITY);
  }

  // ------------------------------------------------------------------ rendering

  function renderTabs() {
    const nodes = [];
    let unread = 0;
    for (const conv of state.convs.values()) {
      unread += conv.unread;
      const main = el("button", {
        className: "tab-main",
        attrs: { type: "button", "aria-current": conv.key === state.active ? "page" : null },
        on: { click: () => activate(conv.key) },
      }, el("span", { className: "tab-label", text: conv.label }));
      if (conv.unread > 0) {
        main.append(el("span", { className: "badge", text: conv.unread > 99 ? "99+" : conv.unread,
          attrs: { "aria-label": conv.unread + " unread" } }));
      }
      const tab = el("div", {
        className: "tab" + (conv.key === state.active ? " active" : "") + (conv.kind === "dm" && !conv.online ? " offline" : ""),
        data: { conv: conv.key, kind: conv.kind, testid: "tab" },
      }, main);
      if (conv.kind === "room") {
        tab.append(el("button", {
          className: "tab-close leave",
          text: "×",
          data: { testid: "leave", room: conv.target },
          attrs: { type: "button", title: "Leave " + conv.target, "aria-label": "Leave room " + conv.target },
          on: { click: () => leaveRoom(conv.target) },
        }));
      } else if (conv.kind === "dm") {
        tab.append(el("button", {
          className: "tab-close",
          text: "×",
          attrs: { type: "button", title: "Close this conversation", "aria-label": "Close conversation with " + nameOf(conv.target) },
          on: { click: () => removeConv(conv.key) },
        }));
      }
      nodes.push(tab);
    }
    ui.tabs.replaceChildren(...nodes);
    document.title = unread > 0 ? "(" + unread + ") " + BASE_TITLE : BASE_TITLE;
  }

  function userButton(id, className, testid) {
    const name = nameOf(id);
    return el("button", {
      className,
      data: { userId: id, userName: name, testid },
      attrs: { type: "button", title: "Message " + name + " directly" },
      on: { click: () => openDm(id) },
    }, el("span", { className: "user-name", text: name }));
  }

  function renderHeader() {
    const conv = state.convs.get(state.active);
    ui.convTitle.textContent = conv.kind === "activity" ? "Activity" : conv.label;
    const chips = [];
    if (conv.kind === "room") {
      const members = state.rooms.get(conv.target) || new Map();
      const ids = [...members.keys()].sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
      for (const id of ids) {
        if (id === state.me.id) {
          chips.push(el("li", {}, el("span", { className: "member me", data: { userId: id } },
            el("span", { className: "user-name", text: nameOf(id) }),
            el("span", { className: "member-you", text: "(you)" }))));
        } else {
          chips.push(el("li", {}, userButton(id, "member", "member")));
        }
      }
      ui.convTitle.append(el("span", { className: "conv-count", text: " · " + members.size + (members.size === 1 ? " member" : " members") }));
    } else if (conv.kind === "dm") {
      ui.convTitle.append(el("span", { className: "conv-count", text: conv.online ? " · direct messages" : " · offline" }));
    }
    ui.members.replaceChildren(...chips);
    ui.members.hidden = chips.length === 0;
  }

  function renderPeople() {
    const ids = [...state.online].sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
    ui.people.replaceChildren(...ids.map((id) => el("li", {}, userButton(id, "person", "person"))));
    ui.peopleEmpty.hidden = ids.length > 0;
  }

  let directory = [];

  function renderRoomList() {
    const items = directory.map((room) => {
      const joined = state.rooms.has(room.name);
      const open = joined && state.active === roomKey(room.name);
      return el("li", {
        className: "room-item" + (joined ? " joined" : "") + (open ? " open" : ""),
        data: { room: room.name, testid: "room-item" },
      },
      el("button", {
        className: "room-name",
        text: "# " + room.name,
        attrs: { type: "button", title: joined ? "Open " + room.name : "Join " + room.name },
        on: { click: () => joinRoom(room.name) },
      }),
      el("span", { className: "room-count", text: String(room.members), attrs: { title: room.members + " members" } }));
    });
    ui.roomList.replaceChildren(...items);
    ui.roomListEmpty.hidden = items.length > 0;
  }

  function renderComposer() {
    const conv = state.convs.get(state.active);
    const usable = state.connected && conv.kind !== "activity";
    ui.composer.disabled = !usable;
    ui.send.disabled = !usable || state.pending;
    if (conv.kind === "activity") ui.composer.placeholder = "Join a room or pick a person to chat";
    else if (!state.connected) ui.composer.placeholder = "Waiting for the connection…";
    else ui.composer.placeholder = "Message " + conv.label.replace(/^([#@]) /, "$1");
  }

  function setStatus(stateName, text, detail) {
    ui.status.dataset.state = stateName;
    ui.status.textContent = text;
    if (detail) ui.status.title = detail;
    else ui.status.removeAttribute("title");
  }

  function setOnline(count) {
    if (typeof count === "number") ui.online.textContent = count + " online";
  }

  // ------------------------------------------------------------------ socket

  if (typeof window.io !== "function") {
    setStatus("disconnected", "client missing", "/socket.io/socket.io.js did not load");
    createConv(ACTIVITY, "activity", null, "Activity");
    activate(ACTIVITY);
    addNotice(activity(), "The Socket.IO client script did not load: the chat cannot connect.", "error");
    return;
  }

  const socket = window.io();

  /** Emits with an ack; resolves with the answer, or {ok:false,error} when there is none. */
  function call(event, ...args) {
    return new Promise((resolve) => {
      if (!state.connected) {
        resolve({ ok: false, error: "not connected to the server" });
        return;
      }
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        resolve({ ok: false, error: "the server did not answer in time" });
      }, ACK_TIMEOUT_MS);
      socket.emit(event, ...args, (res) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(res && typeof res === "object" ? res : { ok: false, error: "unexpected answer from the server" });
      });
    });
  }

  socket.on("connect", () => {
    state.connected = true;
    setStatus("connected", "connected");
    renderComposer();
  });

  socket.on("disconnect", (reason) => {
    state.connected = false;
    const final = reason === "io client disconnect" || reason === "io server disconnect";
    if (final) setStatus("disconnected", "disconnected", String(reason));
    else setStatus("reconnecting", "reconnecting…", reason ? String(reason) : null);
    const note = final ? "Disconnected from the server." : "Connection lost: reconnecting…";
    for (const conv of state.convs.values()) if (conv.kind !== "dm") addNotice(conv, note, "error");
    ui.online.textContent = "– online";
    renderComposer();
  });

  socket.on("connect_error", (err) => {
    state.connected = false;
    const detail = err && err.message ? String(err.message) : "connection error";
    setStatus("reconnecting", "reconnecting…", detail);
    renderComposer();
  });

  socket.on("welcome", (data) => {
    if (!data || typeof data.id !== "string") return;
    const again = state.welcomed;
    state.welcomed = true;
    state.me = { id: data.id, name: String(data.name) };
    state.users.set(data.id, state.me.name);
    setOnline(data.online);
    if (again && data.recovered === true) {
      // Connection state recovery: same id, name and rooms; what we missed has arrived.
      addNotice(activity(), "Connection recovered: you are back as " + state.me.name + ", missed messages delivered.", "presence");
      for (const conv of state.convs.values()) if (conv.kind === "room") addNotice(conv, "Connection recovered.", "presence");
      refreshRooms();
      renderHeader();
      return;
    }
    if (again) {
      // Our id changed: whatever we knew about who is online may be stale.
      state.online.clear();
      renderPeople();
      addNotice(activity(), "Reconnected as " + state.me.name + ".", "presence");
    } else {
      addNotice(activity(), "Connected as " + state.me.name + ". Set your name above, then join a room.", "presence");
    }
    if (document.activeElement !== ui.nick) ui.nick.value = state.wantedNick || state.me.name;
    if (state.wantedNick && state.wantedNick !== state.me.name) setNick(state.wantedNick, true);
    const rejoin = [...state.rooms.keys()];
    for (const room of rejoin) rejoinRoom(room);
    refreshRooms();
    renderHeader();
  });

  socket.on("presence", (data) => {
    if (!data || !data.user) return;
    setOnline(data.online);
    learnUser(data.user);
    const name = nameOf(data.user.id);
    if (data.event === "connected" && data.recovered === true) {
      // Back after a dropped connection, in the rooms it was in: no second "joined".
      markOnline(data.user.id);
      for (const room of Array.isArray(data.rooms) ? data.rooms : []) {
        const members = state.rooms.get(room);
        if (members) members.set(data.user.id, name);
      }
      addNotice(activity(), name + " is back.", "presence");
      if (state.active && state.active.startsWith("room:")) renderHeader();
    } else if (data.event === "connected") {
      markOnline(data.user.id);
      addNotice(activity(), name + " came online.", "presence");
    } else if (data.event === "disconnected") {
      state.online.delete(data.user.id);
      renderPeople();
      addNotice(activity(), name + " went offline.", "presence");
      const dm = state.convs.get(dmKey(data.user.id));
      if (dm) {
        dm.online = false;
        addNotice(dm, name + " went offline.", "presence");
        renderTabs();
        renderHeader();
      }
    }
  });

  socket.on("joined", (data) => {
    if (!data || !data.user || typeof data.room !== "string") return;
    learnUser(data.user);
    markOnline(data.user.id);
    const members = state.rooms.get(data.room);
    if (!members) return;
    members.set(data.user.id, nameOf(data.user.id));
    addNotice(ensureRoomConv(data.room), nameOf(data.user.id) + " joined.", "join");
    if (state.active === roomKey(data.room)) renderHeader();
    scheduleRoomsRefresh();
  });

  socket.on("left", (data) => {
    if (!data || !data.user || typeof data.room !== "string") return;
    learnUser(data.user);
    const members = state.rooms.get(data.room);
    if (!members) return;
    members.delete(data.user.id);
    const how = data.reason === "disconnect" ? " disconnected." : " left.";
    addNotice(ensureRoomConv(data.room), nameOf(data.user.id) + how, "leave");
    if (state.active === roomKey(data.room)) renderHeader();
    scheduleRoomsRefresh();
  });

  socket.on("message", (data) => {
    if (!data || !data.from || typeof data.room !== "string") return;
    learnUser(data.from);
    markOnline(data.from.id);
    if (!state.rooms.has(data.room)) return; // arrived after we left
    const members = state.rooms.get(data.room);
    if (!members.has(data.from.id)) {
      members.set(data.from.id, nameOf(data.from.id));
      if (state.active === roomKey(data.room)) renderHeader();
    }
    addMessage(ensureRoomConv(data.room), { id: data.from.id, name: nameOf(data.from.id) }, String(data.text), data.ts, false);
  });

  socket.on("direct", (data) => {
    if (!data || !data.from) return;
    learnUser(data.from);
    markOnline(data.from.id);
    const conv = ensureDmConv(data.from.id);
    if (!conv.online) {
      conv.online = true;
      renderTabs();
    }
    addMessage(conv, { id: data.from.id, name: nameOf(data.from.id) }, String(data.text), data.ts, false);
  });

  // ------------------------------------------------------------------ actions

  async function setNick(name, quiet) {
    clearError(ui.nickError);
    ui.nickSave.disabled = true;
    const res = await call("nick", name);
    ui.nickSave.disabled = false;
    if (res.ok) {
      const newName = typeof res.name === "string" ? res.name : name.trim();
      state.wantedNick = newName;
      state.me.name = newName;
      state.users.set(state.me.id, newName);
      for (const members of state.rooms.values()) if (members.has(state.me.id)) members.set(state.me.id, newName);
      if (document.activeElement !== ui.nick || !quiet) ui.nick.value = newName;
      ui.nickForm.classList.add("saved");
      setTimeout(() => ui.nickForm.classList.remove("saved"), 1200);
      if (!quiet) addNotice(activity(), "You are now " + newName + ".", "presence");
      renderHeader();
    } else {
      showError(ui.nickError, errorText(res));
    }
  }

  async function joinRoom(raw) {
    clearError(ui.roomError);
    const room = String(raw).trim();
    if (room === "") {
      showError(ui.roomError, "Type a room name first.");
      return;
    }
    closeSidebar();
    if (state.rooms.has(room)) {
      activate(roomKey(room));
      return;
    }
    ui.roomInput.disabled = true;
    const res = await call("join", room);
    ui.roomInput.disabled = false;
    if (!res.ok) {
      showError(ui.roomError, errorText(res));
      return;
    }
    const name = typeof res.room === "string" ? res.room : room;
    applyMembers(name, res.members);
    ui.roomInput.value = "";
    const conv = ensureRoomConv(name);
    addNotice(conv, "You joined #" + name + ".", "join");
    activate(conv.key);
    ui.composer.focus();
    refreshRooms();
  }

  /** After a reconnect: join again the rooms that were open. */
  async function rejoinRoom(room) {
    const res = await call("join", room);
    const conv = state.convs.get(roomKey(room));
    if (res.ok) {
      applyMembers(room, res.members);
      if (conv) addNotice(conv, "Rejoined #" + room + " after reconnecting.", "join");
    } else if (conv) {
      addNotice(conv, "Could not rejoin #" + room + ": " + errorText(res), "error");
    }
    if (state.active === roomKey(room)) renderHeader();
  }

  function applyMembers(room, list) {
    const members = new Map();
    if (Array.isArray(list)) {
      for (const user of list) {
        if (!user || typeof user.id !== "string") continue;
        learnUser(user);
        members.set(user.id, nameOf(user.id));
        markOnline(user.id);
      }
    }
    if (state.me.id) members.set(state.me.id, state.me.name);
    state.rooms.set(room, members);
  }

  async function leaveRoom(room) {
    clearError(ui.roomError);
    const res = await call("leave", room);
    if (!res.ok) {
      const conv = state.convs.get(roomKey(room));
      if (conv && state.active === conv.key) showError(ui.composerError, "Could not leave: " + errorText(res));
      else showError(ui.roomError, "Could not leave #" + room + ": " + errorText(res));
      return;
    }
    state.rooms.delete(room);
    removeConv(roomKey(room));
    addNotice(activity(), "You left #" + room + ".", "leave");
    refreshRooms();
  }

  function openDm(id) {
    if (!id || id === state.me.id) return;
    closeSidebar();
    const conv = ensureDmConv(id);
    activate(conv.key);
    ui.composer.focus();
  }

  async function refreshRooms() {
    if (state.roomsTimer) {
      clearTimeout(state.roomsTimer);
      state.roomsTimer = null;
    }
    const res = await call("rooms");
    if (!res.ok) {
      if (state.connected) showError(ui.roomError, "Could not list rooms: " + errorText(res));
      return;
    }
    directory = (Array.isArray(res.rooms) ? res.rooms : [])
      .filter((r) => r && typeof r.name === "string")
      .map((r) => ({ name: r.name, members: Number(r.members) || 0 }))
      .sort((a, b) => a.name.localeCompare(b.name));
    renderRoomList();
  }

  function scheduleRoomsRefresh() {
    if (state.roomsTimer) return;
    state.roomsTimer = setTimeout(() => {
      state.roomsTimer = null;
      refreshRooms();
    }, ROOMS_REFRESH_DEBOUNCE_MS);
  }

  async function sendMessage() {
    const conv = state.convs.get(state.active);
    const raw = ui.composer.value;
    const text = raw.trim();
    if (state.pending || text === "" || conv.kind === "activity") return;
    clearError(ui.composerError);
    state.pending = true;
    renderComposer();
    const res = conv.kind === "room"
      ? await call("message", { room: conv.target, text })
      : await call("direct", { to: conv.target, text });
    state.pending = false;
    renderComposer();
    if (!res.ok) {
      showError(ui.composerError, errorText(res));
      return;
    }
    if (ui.composer.value === raw) {
      ui.composer.value = "";
      fitComposer();
    }
    const target = state.convs.get(conv.key) || conv;
    addMessage(target, { id: state.me.id, name: state.me.name }, text, conv.kind === "room" ? res.ts : Date.now(), true);
    scrollToEnd(target, true);
  }

  // ------------------------------------------------------------------ wiring

  ui.nickForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = ui.nick.value.trim();
    if (name === "") {
      showError(ui.nickError, "Type a name first.");
      return;
    }
    setNick(name, false);
  });
  ui.nick.addEventListener("input", () => clearError(ui.nickError));

  ui.roomForm.addEventListener("submit", (e) => {
    e.preventDefault();
    joinRoom(ui.roomInput.value);
  });
  ui.roomInput.addEventListener("input", () => clearError(ui.roomError));
  ui.roomsRefresh.addEventListener("click", () => {
    clearError(ui.roomError);
    refreshRooms();
  });

  ui.composerForm.addEventListener("submit", (e) => {
    e.preventDefault();
    sendMessage();
  });
  ui.composer.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendMessage();
    }
  });
  function fitComposer() {
    ui.composer.style.height = "auto";
    ui.composer.style.height = Math.min(ui.composer.scrollHeight, 160) + "px";
  }
  ui.composer.addEventListener("input", () => {
    clearError(ui.composerError);
    fitComposer();
  });

  function closeSidebar() {
    document.body.classList.remove("sidebar-open");
    ui.menuToggle.setAttribute("aria-expanded", "false");
    ui.backdrop.hidden = true;
  }
  ui.menuToggle.addEventListener("click", () => {
    const open = !document.body.classList.contains("sidebar-open");
    document.body.classList.toggle("sidebar-open", open);
    ui.menuToggle.setAttribute("aria-expanded", String(open));
    ui.backdrop.hidden = !open;
  });
  ui.backdrop.addEventListener("click", closeSidebar);
  $("menu-close").addEventListener("click", closeSidebar);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeSidebar();
  });

  createConv(ACTIVITY, "activity", null, "Activity");
  activate(ACTIVITY);
  renderPeople();
  renderRoomList();
})();
