/*
 * actix-socketio's own Socket.IO client: Socket.IO v5 over Engine.IO v4, in one file, no build
 * step and no dependency. It implements the common subset of the official client's API
 * (io(), Manager, Socket) so pages written for that subset keep working with this file.
 *
 * Layers, bottom-up:
 *   Emitter          tiny event emitter shared by everything below
 *   Engine.IO codec  packets "0".."6", polling payloads joined by \x1e, binary as "b"+base64
 *   transports       HTTP long-polling (fetch) and WebSocket
 *   Engine           one Engine.IO session: handshake, heartbeat, upgrade, write buffer
 *   Socket.IO codec  "<type>[<n>-][<nsp>,][<id>][json]" plus binary placeholders
 *   Manager          owns the Engine, multiplexes namespaces, reconnects with backoff
 *   Socket           one namespace: events, acks, buffering
 *
 * Connection state recovery works as in the official client: the socket keeps the `pid` the
 * server's CONNECT answer carries and, while it has one, the last string argument of every event
 * it receives as the offset (the server appends it); reconnecting, it sends `{pid, offset, ...auth}`
 * and `socket.recovered` says whether the server gave the same session back (the missed events
 * then arrive as ordinary events). Events that come before the CONNECT answer are held until it.
 *
 * Not implemented (the official client has them): `retries`, `extraHeaders`, onAnyOutgoing,
 * closeOnBeforeunload, rememberUpgrade, XHR/JSONP fallbacks
 * (fetch, URL and AbortController are required), Blob as the type of incoming binary
 * (it is always an ArrayBuffer). Options: `WebSocket` and `fetch` substitute the globals
 * (Node tests), `withCredentials` sends cookies cross-origin, `upgrade: false` stays on polling.
 */
(function (root) {
  "use strict";

  // ---------------------------------------------------------------------------------------------
  // Emitter

  class Emitter {
    constructor() {
      this._listeners = new Map();
    }

    on(event, fn) {
      // String keys so that an event named 1 (the protocol allows numbers) meets on("1").
      const key = String(event);
      if (!this._listeners.has(key)) this._listeners.set(key, []);
      this._listeners.get(key).push(fn);
      return this;
    }

    once(event, fn) {
      const wrapper = (...args) => {
        this.off(event, wrapper);
        fn.apply(this, args);
      };
      wrapper.original = fn;
      return this.on(event, wrapper);
    }

    off(event, fn) {
      if (event === undefined) {
        this._listeners.clear();
        return this;
      }
      const key = String(event);
      const list = this._listeners.get(key);
      if (!list) return this;
      if (fn === undefined) {
        this._listeners.delete(key);
        return this;
      }
      const i = list.findIndex((l) => l === fn || l.original === fn);
      if (i !== -1) list.splice(i, 1);
      if (list.length === 0) this._listeners.delete(key);
      return this;
    }

    listeners(event) {
      return (this._listeners.get(String(event)) || []).slice();
    }

    // Named _fire, not emit: Socket#emit sends to the server. A throwing listener is reported
    // asynchronously so that user code cannot leave the protocol state half-updated.
    _fire(event, ...args) {
      for (const fn of this.listeners(event)) invokeListener(fn, this, args);
    }
  }

  function invokeListener(fn, self, args) {
    try {
      fn.apply(self, args);
    } catch (err) {
      setTimeout(() => {
        throw err;
      }, 0);
    }
  }

  /** Subscribes and returns the matching unsubscribe function (kept in `subs` arrays). */
  function listen(emitter, event, fn) {
    emitter.on(event, fn);
    return () => emitter.off(event, fn);
  }

  // ---------------------------------------------------------------------------------------------
  // Binary helpers

  const hasBlob = typeof Blob !== "undefined";

  function isBinary(value) {
    return value instanceof ArrayBuffer || ArrayBuffer.isView(value) || (hasBlob && value instanceof Blob);
  }

  function bytesOf(value) {
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }

  /** Incoming binary is always handed to the application as an ArrayBuffer. */
  function toArrayBuffer(value) {
    if (value instanceof ArrayBuffer) return value;
    const bytes = bytesOf(value);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }

  function toBase64(value) {
    const bytes = bytesOf(value);
    let text = "";
    // Chunks keep String.fromCharCode's argument list far below engine limits.
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  function fromBase64(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function utf8Length(text) {
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff) {
        n += 4; // a surrogate pair is one 4-byte code point
        i++;
      } else n += 3;
    }
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // Engine.IO v4 codec

  const EIO_TYPES = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];
  const RECORD_SEPARATOR = "\x1e";

  /** One packet as it goes on the wire; polling cannot carry raw bytes, hence "b"+base64. */
  function encodeEngine(packet, forPolling) {
    if (packet.type === "message" && isBinary(packet.data)) {
      return forPolling ? "b" + toBase64(packet.data) : packet.data;
    }
    return EIO_TYPES.indexOf(packet.type) + (packet.data === undefined ? "" : String(packet.data));
  }

  function decodeEngine(raw) {
    if (typeof raw !== "string") return { type: "message", data: toArrayBuffer(raw) };
    if (raw.charAt(0) === "b") return { type: "message", data: fromBase64(raw.slice(1)) };
    const type = /^[0-6]/.test(raw) ? EIO_TYPES[Number(raw.charAt(0))] : null;
    if (!type) return { type: "error", data: raw };
    return raw.length > 1 ? { type, data: raw.slice(1) } : { type };
  }

  // ---------------------------------------------------------------------------------------------
  // Transports: Emitters firing "open", "packet", "drain", "error"(message, cause), "close"(cause)

  class PollingTransport extends Emitter {
    constructor(engine) {
      super();
      this.name = "polling";
      this.engine = engine;
      this.readyState = "closed";
      this.writable = false;
      this._polling = false; // a GET is in flight
      this._posting = false; // a POST is in flight
      this._onIdle = null; // set while pausing for an upgrade
      this._pendingClose = null; // packets to send with "1" once the current POST is done
      this._abort = new AbortController();
    }

    open() {
      this.readyState = "opening";
      this._poll(); // the first GET, without sid, is the handshake
    }

    _request(method, body) {
      const fetchImpl = this.engine.opts.fetch || root.fetch;
      const init = { method, cache: "no-store", signal: this._abort.signal };
      if (this.engine.opts.withCredentials) init.credentials = "include";
      if (body !== undefined) {
        init.body = body;
        init.headers = { "Content-Type": "text/plain;charset=UTF-8" };
      }
      return fetchImpl(this.engine._uri("polling"), init).then((res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return res.text();
      });
    }

    _poll() {
      this._polling = true;
      this._request("GET").then(
        (body) => {
          this._polling = false;
          if (this.readyState !== "closed") this._onPayload(body);
        },
        (err) => {
          this._polling = false;
          this._fail("xhr poll error", err);
        },
      );
    }

    _onPayload(body) {
      for (const raw of body.split(RECORD_SEPARATOR)) {
        const packet = decodeEngine(raw);
        if (this.readyState === "opening" && packet.type === "open") {
          this.readyState = "open";
          this.writable = true;
        }
        if (packet.type === "close") {
          this._closeFromServer();
          return;
        }
        this._fire("packet", packet);
        if (this.readyState === "closed") return; // the engine gave up on us meanwhile
      }
      if (this.readyState === "pausing") this._checkIdle();
      else if (this.readyState === "open") this._poll();
      else if (this.readyState === "opening") this._fail("xhr poll error", new Error("handshake without open packet"));
    }

    send(packets) {
      // Respect the server's maxPayload: send what fits now, the rest on the next "drain".
      const limit = this.engine.maxPayload || Infinity;
      let size = 0;
      let count = 0;
      const encoded = [];
      for (const packet of packets) {
        const text = encodeEngine(packet, true);
        size += utf8Length(text) + (count > 0 ? 1 : 0);
        if (count > 0 && size > limit) break;
        encoded.push(text);
        count++;
      }
      this._post(encoded.join(RECORD_SEPARATOR));
      return count;
    }

    _post(body) {
      this.writable = false;
      this._posting = true;
      this._request("POST", body).then(
        () => {
          this._posting = false;
          if (this.readyState === "closed") return;
          if (this._pendingClose) return this._sendClose(this._pendingClose);
          if (this.readyState === "pausing") return this._checkIdle();
          if (this.readyState !== "open") return;
          this.writable = true;
          this._fire("drain");
        },
        (err) => {
          this._posting = false;
          this._fail("xhr post error", err);
        },
      );
    }

    /** Stops polling once the in-flight GET (the server answers it with noop) and POST are done. */
    pause(onPause) {
      this.readyState = "pausing";
      this.writable = false;
      this._onIdle = onPause;
      this._checkIdle();
    }

    _checkIdle() {
      if (this.readyState !== "pausing" || this._polling || this._posting) return;
      this.readyState = "paused";
      const fn = this._onIdle;
      this._onIdle = null;
      fn();
    }

    /** Undoes pause() when the WebSocket probe fails, so the session keeps running on polling. */
    resume() {
      if (this.readyState !== "pausing" && this.readyState !== "paused") return;
      this.readyState = "open";
      this._onIdle = null;
      this.writable = !this._posting;
      if (!this._polling) this._poll();
      if (this.writable) this._fire("drain");
    }

    /** Client close: "1" (after the leftovers) in a POST of its own, then stop the GET loop. */
    close(leftovers) {
      if (this.readyState === "closed") return;
      const packets = leftovers.concat([{ type: "close" }]);
      if (!["open", "pausing", "paused"].includes(this.readyState)) return this.discard();
      this.readyState = "closing";
      if (this._posting) this._pendingClose = packets; // a second concurrent POST would kill the session
      else this._sendClose(packets);
    }

    _sendClose(packets) {
      this._pendingClose = null;
      const body = packets.map((p) => encodeEngine(p, true)).join(RECORD_SEPARATOR);
      const fetchImpl = this.engine.opts.fetch || root.fetch;
      // Own request without the abort signal: discard() must not cancel the goodbye.
      fetchImpl(this.engine._uri("polling"), {
        method: "POST",
        body,
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        credentials: this.engine.opts.withCredentials ? "include" : "same-origin",
      }).catch(() => {});
      this.discard();
    }

    /** Drops the transport silently (after an upgrade, or when the engine already gave up). */
    discard() {
      this.readyState = "closed";
      this.writable = false;
      this._abort.abort();
    }

    _closeFromServer() {
      this.discard();
      this._fire("close", new Error("the server closed the session"));
    }

    _fail(message, cause) {
      if (this.readyState === "closed") return;
      this.discard();
      this._fire("error", message, cause);
    }
  }

  class WebSocketTransport extends Emitter {
    constructor(engine) {
      super();
      this.name = "websocket";
      this.engine = engine;
      this.readyState = "closed";
      this.writable = false;
      this.ws = null;
    }

    open() {
      this.readyState = "opening";
      const Impl = this.engine.opts.WebSocket || root.WebSocket;
      let ws;
      try {
        if (!Impl) throw new Error("no WebSocket implementation available");
        ws = new Impl(this.engine._uri("websocket"));
      } catch (err) {
        // Report asynchronously: the caller is still wiring its listeners.
        setTimeout(() => this._fail("websocket error", err), 0);
        return;
      }
      this.ws = ws;
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        if (this.readyState !== "opening") return;
        this.readyState = "open";
        this.writable = true;
        this._fire("open");
      };
      ws.onmessage = (ev) => {
        if (this.readyState === "closed") return;
        this._fire("packet", decodeEngine(ev.data));
      };
      ws.onerror = (ev) => this._fail("websocket error", ev && ev.error ? ev.error : ev);
      ws.onclose = (ev) => {
        if (this.readyState === "closed") return;
        this._detach();
        this._fire("close", ev);
      };
    }

    send(packets) {
      for (const packet of packets) this.ws.send(encodeEngine(packet, false));
      return packets.length;
    }

    close(leftovers) {
      if (this.readyState === "open") {
        // "1" first so the server knows this is a deliberate close, not a lost connection.
        this.send(leftovers.concat([{ type: "close" }]));
      }
      this.discard();
    }

    discard() {
      const ws = this._detach();
      if (ws) {
        try {
          ws.close();
        } catch (err) {
          /* already closing */
        }
      }
    }

    _detach() {
      this.readyState = "closed";
      this.writable = false;
      const ws = this.ws;
      this.ws = null;
      // No-ops rather than null: the `ws` package (Node) throws on an "error" nobody listens to,
      // which closing a still-connecting socket produces.
      const ignore = () => {};
      if (ws) ws.onopen = ws.onmessage = ws.onerror = ws.onclose = ignore;
      return ws;
    }

    _fail(message, cause) {
      if (this.readyState === "closed") return;
      this.discard();
      this._fire("error", message, cause);
    }
  }

  const TRANSPORTS = { polling: PollingTransport, websocket: WebSocketTransport };

  // ---------------------------------------------------------------------------------------------
  // Engine: one Engine.IO session. Fires "open", "data"(string|ArrayBuffer), "upgrade",
  // "error"(Error) when it could not open, and "close"(reason, cause) once it was open.

  let cacheBuster = 0;

  class Engine extends Emitter {
    constructor(origin, opts) {
      super();
      this.origin = origin;
      this.opts = opts;
      this.id = null;
      this.readyState = "opening";
      this.transport = null;
      this.writeBuffer = [];
      this.upgrades = [];
      this.pingInterval = 0;
      this.pingTimeout = 0;
      this.maxPayload = 0;
      this._heartbeat = null;
      this._probe = null;
      // Deferred so the owner can subscribe before the first failure can be reported.
      setTimeout(() => this._start(), 0);
    }

    _start() {
      if (this.readyState !== "opening") return;
      const name = this.opts.transports[0];
      const Transport = TRANSPORTS[name];
      if (!Transport) return this._fail(new Error(`unknown transport "${name}"`));
      this._setTransport(new Transport(this));
      this.transport.open();
    }

    _uri(transportName) {
      const url = new URL(this.opts.path, this.origin);
      for (const [key, value] of Object.entries(this.opts.query || {})) url.searchParams.set(key, value);
      url.searchParams.set("EIO", "4");
      url.searchParams.set("transport", transportName);
      if (this.id) url.searchParams.set("sid", this.id);
      if (transportName === "polling") {
        // Defeats caches that ignore Cache-Control (old proxies, some browsers).
        url.searchParams.set("t", Date.now().toString(36) + (cacheBuster++).toString(36));
      } else {
        url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      }
      return url.toString();
    }

    _setTransport(transport) {
      if (this.transport) this.transport.off();
      transport.off(); // drop the probe-phase listeners when a probe becomes the transport
      this.transport = transport;
      transport.on("packet", (packet) => this._onPacket(packet));
      transport.on("drain", () => this._flush());
      transport.on("error", (message, cause) => this._onTransportDown("transport error", message, cause));
      transport.on("close", (cause) => this._onTransportDown("transport close", "transport closed", cause));
    }

    _onTransportDown(reason, message, cause) {
      if (this.readyState === "opening") {
        const err = new Error(message);
        err.cause = cause;
        this._fail(err);
      } else {
        this._terminate(reason, cause);
      }
    }

    _onPacket(packet) {
      if (this.readyState === "closed") return;
      // Any packet proves the server alive; the deadline is pingInterval + pingTimeout.
      if (this.readyState === "open") this._resetHeartbeat();
      switch (packet.type) {
        case "open":
          return this._onHandshake(packet.data);
        case "ping":
          this._fire("ping");
          this.writeBuffer.push({ type: "pong" });
          return this._flush();
        case "message":
          return this._fire("data", packet.data);
        case "close":
          return this._terminate("transport close");
        case "error":
          return this._terminate("parse error");
        default:
          return; // noop (and a stray pong/upgrade) carry nothing for us
      }
    }

    _onHandshake(data) {
      if (this.readyState !== "opening") return this._terminate("parse error");
      let info;
      try {
        info = JSON.parse(data);
      } catch (err) {
        return this._fail(new Error("invalid handshake"));
      }
      if (!info || typeof info.sid !== "string") return this._fail(new Error("invalid handshake"));
      this.id = info.sid;
      this.upgrades = Array.isArray(info.upgrades) ? info.upgrades : [];
      this.pingInterval = info.pingInterval || 0;
      this.pingTimeout = info.pingTimeout || 0;
      this.maxPayload = info.maxPayload || 0;
      this.readyState = "open";
      this._resetHeartbeat();
      this._fire("open");
      this._flush();
      if (
        this.readyState === "open" &&
        this.transport.name === "polling" &&
        this.opts.upgrade !== false &&
        this.upgrades.includes("websocket") &&
        this.opts.transports.includes("websocket")
      ) {
        this._startProbe();
      }
    }

    _resetHeartbeat() {
      clearTimeout(this._heartbeat);
      if (!this.pingInterval) return;
      this._heartbeat = setTimeout(() => this._terminate("ping timeout"), this.pingInterval + this.pingTimeout);
    }

    /**
     * Upgrade: open a WebSocket on the same sid, exchange "2probe"/"3probe", then pause polling
     * (the server answers the pending GET with noop) and send "5" so the server switches too.
     * Any failure before that leaves the session on polling, where it keeps working.
     */
    _startProbe() {
      const probe = new WebSocketTransport(this);
      let finished = false;
      const stop = (ok) => {
        if (finished) return false;
        finished = true;
        clearTimeout(timer);
        this._probe = null;
        if (!ok) {
          probe.off();
          probe.discard();
          if (this.readyState === "open" && this.transport.name === "polling") this.transport.resume();
        }
        return true;
      };
      const timer = setTimeout(() => stop(false), this.opts.upgradeTimeout || 10000);
      this._probe = { abort: () => stop(false) };
      probe.on("open", () => probe.send([{ type: "ping", data: "probe" }]));
      probe.on("packet", (packet) => {
        if (packet.type !== "pong" || packet.data !== "probe") return stop(false);
        this._fire("upgrading", probe);
        this.transport.pause(() => {
          if (finished || this.readyState !== "open") return;
          stop(true);
          probe.send([{ type: "upgrade" }]);
          const old = this.transport;
          this._setTransport(probe);
          old.discard();
          this._fire("upgrade", probe);
          this._flush();
        });
      });
      probe.on("error", () => stop(false));
      probe.on("close", () => stop(false));
      probe.open();
    }

    write(data) {
      if (this.readyState === "closed") return;
      this.writeBuffer.push({ type: "message", data });
      this._flush();
    }

    _flush() {
      if (this.readyState !== "open" || !this.transport.writable || this.writeBuffer.length === 0) return;
      const sent = this.transport.send(this.writeBuffer);
      this.writeBuffer.splice(0, sent);
      // WebSocket sends synchronously and never fires "drain"; polling does after its POST.
      if (this.writeBuffer.length > 0 && this.transport.writable) this._flush();
    }

    /** Client-side close: what is buffered goes out, then "1". Quiet: the owner asked for it. */
    close() {
      if (this.readyState === "closed") return;
      const leftovers = this.readyState === "open" ? this.writeBuffer.slice() : [];
      const transport = this._shutdown();
      if (transport) transport.close(leftovers);
    }

    /** Could not open: fires "error" only, the session never existed for the owner. */
    _fail(err) {
      if (this.readyState === "closed") return;
      const transport = this._shutdown();
      if (transport) transport.discard();
      this._fire("error", err);
    }

    /** The open session is lost (or was never opened, then it is a failure to open). */
    _terminate(reason, cause) {
      if (this.readyState === "closed") return;
      if (this.readyState !== "open") return this._fail(new Error(reason));
      const transport = this._shutdown();
      if (transport) transport.discard();
      this._fire("close", reason, cause);
    }

    _shutdown() {
      this.readyState = "closed"; // first, so an aborted probe does not resume polling
      clearTimeout(this._heartbeat);
      if (this._probe) this._probe.abort();
      this.writeBuffer = [];
      if (this.transport) this.transport.off();
      return this.transport;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Socket.IO v5 codec

  const CONNECT = 0;
  const DISCONNECT = 1;
  const EVENT = 2;
  const ACK = 3;
  const CONNECT_ERROR = 4;
  const BINARY_EVENT = 5;
  const BINARY_ACK = 6;

  /** Replaces every binary value by a placeholder and collects the buffers, in order. */
  function deconstruct(value, buffers) {
    if (isBinary(value)) {
      buffers.push(value);
      return { _placeholder: true, num: buffers.length - 1 };
    }
    if (Array.isArray(value)) return value.map((v) => deconstruct(v, buffers));
    if (value !== null && typeof value === "object" && typeof value.toJSON !== "function") {
      const copy = {};
      for (const key of Object.keys(value)) copy[key] = deconstruct(value[key], buffers);
      return copy;
    }
    return value;
  }

  function reconstruct(value, buffers) {
    if (Array.isArray(value)) return value.map((v) => reconstruct(v, buffers));
    if (value !== null && typeof value === "object") {
      if (value._placeholder === true) {
        const n = value.num;
        if (!Number.isInteger(n) || n < 0 || n >= buffers.length) throw new Error("bad placeholder");
        return buffers[n];
      }
      for (const key of Object.keys(value)) value[key] = reconstruct(value[key], buffers);
    }
    return value;
  }

  /** Returns the wire parts of a packet: one string, then one entry per binary attachment. */
  function encodeSocketPacket(packet) {
    let type = packet.type;
    let data = packet.data;
    const buffers = [];
    if (type === EVENT || type === ACK) {
      data = deconstruct(data, buffers);
      if (buffers.length > 0) type = type === EVENT ? BINARY_EVENT : BINARY_ACK;
      else data = packet.data;
    }
    let text = String(type);
    if (buffers.length > 0) text += buffers.length + "-";
    if (packet.nsp && packet.nsp !== "/") text += packet.nsp + ",";
    if (packet.id !== undefined) text += packet.id;
    if (data !== undefined) text += JSON.stringify(data);
    return [text].concat(buffers);
  }

  function isEventPayload(data) {
    return Array.isArray(data) && data.length > 0 && (typeof data[0] === "string" || typeof data[0] === "number");
  }

  function decodeSocketString(text) {
    const type = Number(text.charAt(0));
    if (!/^[0-6]$/.test(text.charAt(0))) throw new Error(`unknown packet type in ${JSON.stringify(text)}`);
    const packet = { type, nsp: "/" };
    let i = 1;
    if (type === BINARY_EVENT || type === BINARY_ACK) {
      const dash = text.indexOf("-", i);
      const count = text.slice(i, dash);
      if (dash === -1 || !/^\d+$/.test(count)) throw new Error("bad attachment count");
      packet.attachments = Number(count);
      i = dash + 1;
    }
    if (text.charAt(i) === "/") {
      const comma = text.indexOf(",", i);
      const end = comma === -1 ? text.length : comma;
      packet.nsp = text.slice(i, end);
      i = comma === -1 ? end : end + 1;
    }
    const digits = /^\d*/.exec(text.slice(i))[0];
    if (digits.length > 0) {
      packet.id = Number(digits);
      i += digits.length;
    }
    if (i < text.length) {
      try {
        packet.data = JSON.parse(text.slice(i));
      } catch (err) {
        throw new Error("invalid JSON payload");
      }
    }
    const d = packet.data;
    const valid = {
      [CONNECT]: d !== null && typeof d === "object" && !Array.isArray(d),
      [DISCONNECT]: d === undefined,
      [EVENT]: isEventPayload(d),
      [BINARY_EVENT]: isEventPayload(d),
      [ACK]: Array.isArray(d),
      [BINARY_ACK]: Array.isArray(d),
      [CONNECT_ERROR]: typeof d === "string" || (d !== null && typeof d === "object"),
    }[type];
    if (!valid) throw new Error(`invalid payload for packet type ${type}`);
    return packet;
  }

  /** Reassembles packets from Engine.IO messages; throws on anything malformed. */
  class Decoder {
    constructor() {
      this.pending = null; // a binary packet waiting for its attachments
    }

    add(chunk) {
      if (typeof chunk === "string") {
        if (this.pending) throw new Error("text packet while binary attachments are due");
        const packet = decodeSocketString(chunk);
        if (packet.attachments > 0) {
          this.pending = { packet, buffers: [] };
          return null;
        }
        return packet;
      }
      if (!this.pending) throw new Error("unexpected binary attachment");
      const { packet, buffers } = this.pending;
      buffers.push(chunk);
      if (buffers.length < packet.attachments) return null;
      this.pending = null;
      packet.data = reconstruct(packet.data, buffers);
      return packet;
    }
  }

  function containsBlob(value) {
    if (!hasBlob) return false;
    if (value instanceof Blob) return true;
    if (Array.isArray(value)) return value.some(containsBlob);
    if (value !== null && typeof value === "object" && !isBinary(value)) return Object.values(value).some(containsBlob);
    return false;
  }

  /** Blobs can only be read asynchronously; returns a copy of `value` with ArrayBuffers instead. */
  async function resolveBlobs(value) {
    if (hasBlob && value instanceof Blob) return value.arrayBuffer();
    if (Array.isArray(value)) return Promise.all(value.map(resolveBlobs));
    if (value !== null && typeof value === "object" && !isBinary(value) && typeof value.toJSON !== "function") {
      const copy = {};
      for (const key of Object.keys(value)) copy[key] = await resolveBlobs(value[key]);
      return copy;
    }
    return value;
  }

  // ---------------------------------------------------------------------------------------------
  // Backoff: exponential, capped, with jitter so that many clients do not reconnect in lockstep

  class Backoff {
    constructor(opts) {
      this.min = opts.min;
      this.max = opts.max;
      this.jitter = opts.jitter;
      this.attempts = 0;
    }

    duration() {
      const base = Math.min(this.max, this.min * Math.pow(2, this.attempts));
      this.attempts++;
      const spread = base * this.jitter * (Math.random() * 2 - 1);
      return Math.max(0, Math.min(this.max, Math.round(base + spread)));
    }

    reset() {
      this.attempts = 0;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Manager: one Engine.IO connection shared by the sockets of several namespaces

  function normalizePath(path) {
    let p = path || "/socket.io/";
    if (!p.startsWith("/")) p = "/" + p;
    if (!p.endsWith("/")) p += "/";
    return p;
  }

  class Manager extends Emitter {
    constructor(uri, opts) {
      super();
      if (typeof uri === "object" && uri !== null && !(uri instanceof URL)) {
        opts = uri;
        uri = undefined;
      }
      opts = Object.assign({}, opts);
      this.uri = new URL(String(uri !== undefined ? uri : root.location.href)).origin;
      this.opts = Object.assign({}, opts, {
        path: normalizePath(opts.path),
        transports: opts.transports && opts.transports.length ? opts.transports.slice() : ["polling", "websocket"],
        query: Object.assign({}, opts.query),
      });
      this.nsps = {};
      this.engine = null;
      this._readyState = "closed";
      this._subs = [];
      this._decoder = new Decoder();
      this._outQueue = [];
      this._outBusy = false;
      this._skipReconnect = false;
      this._reconnecting = false;
      this._reconnectTimer = null;
      const given = (name, fallback) => (opts[name] !== undefined ? opts[name] : fallback);
      this.backoff = new Backoff({
        min: given("reconnectionDelay", 1000),
        max: given("reconnectionDelayMax", 5000),
        jitter: given("randomizationFactor", 0.5),
      });
      this._reconnectionAttempts = given("reconnectionAttempts", Infinity);
      this._timeout = given("timeout", 20000); // for opening the Engine.IO session
      this.reconnection(opts.reconnection !== false);
      this._autoConnect = opts.autoConnect !== false;
      if (this._autoConnect) this.open();
    }

    /** Reads (no argument) or sets whether a lost connection is re-established. */
    reconnection(v) {
      if (v === undefined) return this._reconnection;
      this._reconnection = !!v;
      if (!v) this._skipReconnect = true;
      return this;
    }

    /** Opens the Engine.IO connection; `callback(err?)` reports this one attempt. */
    open(callback) {
      if (this._readyState === "open" || this._readyState === "opening") return this;
      if (!this._reconnecting) this._skipReconnect = !this._reconnection;
      this._readyState = "opening";
      const engine = new Engine(this.uri, this.opts);
      this.engine = engine;
      let timer = null;
      const failed = (err) => {
        this._cleanup();
        this._readyState = "closed";
        this._fire("error", err);
        if (callback) callback(err);
        else this._maybeReconnectOnOpen();
      };
      this._subs.push(
        listen(engine, "open", () => {
          this._onOpen();
          if (callback) callback();
        }),
      );
      this._subs.push(listen(engine, "error", failed));
      if (this._timeout !== false && this._timeout !== Infinity) {
        timer = setTimeout(() => {
          engine.close();
          failed(new Error("timeout"));
        }, this._timeout);
        this._subs.push(() => clearTimeout(timer));
      }
      return this;
    }

    connect(callback) {
      return this.open(callback);
    }

    _maybeReconnectOnOpen() {
      if (!this._reconnecting && this._reconnection && this.backoff.attempts === 0) this.reconnect();
    }

    _onOpen() {
      this._cleanup();
      this._readyState = "open";
      this._subs.push(listen(this.engine, "data", (data) => this._onData(data)));
      this._subs.push(listen(this.engine, "close", (reason, cause) => this._onClose(reason, cause)));
      this._fire("open");
    }

    _onData(data) {
      let packet;
      try {
        packet = this._decoder.add(data);
      } catch (err) {
        return this._onClose("parse error", err);
      }
      if (packet) this._fire("packet", packet);
    }

    _cleanup() {
      for (const unsubscribe of this._subs) unsubscribe();
      this._subs = [];
      this._decoder = new Decoder();
      this._outQueue = [];
    }

    _onClose(reason, cause) {
      this._cleanup();
      if (this.engine) this.engine.close();
      this.backoff.reset();
      this._readyState = "closed";
      this._fire("close", reason, cause);
      if (this._reconnection && !this._skipReconnect) this.reconnect();
    }

    reconnect() {
      if (this._reconnecting || this._skipReconnect) return;
      if (this.backoff.attempts >= this._reconnectionAttempts) {
        this.backoff.reset();
        this._fire("reconnect_failed");
        return;
      }
      const delay = this.backoff.duration();
      this._reconnecting = true;
      this._reconnectTimer = setTimeout(() => {
        this._reconnectTimer = null;
        if (this._skipReconnect) return;
        this._fire("reconnect_attempt", this.backoff.attempts);
        if (this._skipReconnect) return; // a listener may have closed us
        this.open((err) => {
          if (err) {
            this._reconnecting = false;
            this._fire("reconnect_error", err);
            this.reconnect();
          } else {
            const attempts = this.backoff.attempts;
            this._reconnecting = false;
            this.backoff.reset();
            this._fire("reconnect", attempts);
          }
        });
      }, delay);
    }

    /** The socket for `nsp` on this connection (one per namespace and manager). */
    socket(nsp, opts) {
      let socket = this.nsps[nsp];
      if (!socket) {
        socket = new Socket(this, nsp, opts);
        this.nsps[nsp] = socket;
      } else if (this._autoConnect && !socket.active) {
        socket.connect();
      }
      return socket;
    }

    /** Called when a socket stops; the connection goes when no socket needs it any more. */
    _destroy() {
      for (const nsp of Object.keys(this.nsps)) {
        if (this.nsps[nsp].active) return;
      }
      this._close();
    }

    _close() {
      this._skipReconnect = true;
      this._reconnecting = false;
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      this._onClose("forced close");
    }

    disconnect() {
      return this._close();
    }

    close() {
      return this._close();
    }

    /** Sends a Socket.IO packet; packets after one holding a Blob wait for it, keeping order. */
    _packet(packet) {
      if (this._outQueue.length > 0 || containsBlob(packet.data)) {
        this._outQueue.push(packet);
        if (!this._outBusy) this._drainOutQueue();
        return;
      }
      this._write(packet);
    }

    async _drainOutQueue() {
      this._outBusy = true;
      const queue = this._outQueue; // replaced by _cleanup() if the connection goes meanwhile
      while (queue.length > 0) {
        const packet = queue[0];
        if (containsBlob(packet.data)) packet.data = await resolveBlobs(packet.data);
        if (queue !== this._outQueue) break;
        queue.shift();
        this._write(packet);
      }
      this._outBusy = false;
    }

    _write(packet) {
      if (!this.engine || this._readyState !== "open") return;
      for (const part of encodeSocketPacket(packet)) this.engine.write(part);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Socket: one namespace on a Manager

  const RESERVED_EVENTS = new Set([
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
  ]);

  class Socket extends Emitter {
    constructor(io, nsp, opts) {
      super();
      this.io = io;
      this.nsp = nsp;
      this.id = undefined;
      this.connected = false;
      this.recovered = false; // true after a CONNECT answer that gave the previous session back
      this._pid = undefined; // private session id, from the CONNECT answer (recovery on)
      this._lastOffset = undefined; // offset of the last event received while a pid is known
      this.auth = opts && opts.auth;
      this.acks = {};
      this.ids = 0;
      this.sendBuffer = [];
      this.receiveBuffer = [];
      this.flags = {};
      this._anyListeners = [];
      this._subs = null;
      this._connecting = false; // CONNECT sent, answer pending: never send a second one
      this._ackTimeout = opts && opts.ackTimeout;
      if (io._autoConnect) this.open();
    }

    get disconnected() {
      return !this.connected;
    }

    /** True while the socket wants to be connected (it will reconnect after a lost connection). */
    get active() {
      return this._subs !== null;
    }

    get volatile() {
      this.flags.volatile = true;
      return this;
    }

    _subscribe() {
      if (this._subs) return;
      const io = this.io;
      this._subs = [
        listen(io, "open", () => this._onOpen()),
        listen(io, "packet", (packet) => this._onPacket(packet)),
        listen(io, "error", (err) => this._onError(err)),
        listen(io, "close", (reason, cause) => this._onClose(reason, cause)),
      ];
    }

    connect() {
      if (this.connected) return this;
      this._subscribe();
      if (!this.io._reconnecting) this.io.open();
      if (this.io._readyState === "open") this._onOpen();
      return this;
    }

    open() {
      return this.connect();
    }

    _onOpen() {
      if (this.connected || this._connecting) return;
      this._connecting = true;
      // With a pid the server may give the previous session back; offset: undefined is left
      // out by JSON.stringify, as for a client that never received an event.
      const send = (data) =>
        this._packet({
          type: CONNECT,
          data: this._pid ? Object.assign({ pid: this._pid, offset: this._lastOffset }, data) : data,
        });
      if (typeof this.auth === "function") this.auth(send);
      else send(this.auth);
    }

    _onError(err) {
      if (!this.connected) this._fire("connect_error", err);
    }

    _onPacket(packet) {
      if (packet.nsp !== this.nsp) return;
      switch (packet.type) {
        case CONNECT:
          if (typeof packet.data.sid === "string") return this._onConnect(packet.data.sid, packet.data.pid);
          return this._fire("connect_error", new Error("invalid CONNECT answer from the server"));
        case EVENT:
        case BINARY_EVENT:
          return this._onEvent(packet);
        case ACK:
        case BINARY_ACK:
          return this._onAck(packet);
        case DISCONNECT:
          return this._onServerDisconnect();
        case CONNECT_ERROR: {
          // A refusal is final for this socket (as in the official client): no retry loop.
          this._connecting = false;
          this.destroy();
          const info = packet.data;
          const err = new Error(typeof info === "string" ? info : info.message);
          if (info && typeof info === "object" && "data" in info) err.data = info.data;
          return this._fire("connect_error", err);
        }
      }
    }

    _onConnect(id, pid) {
      if (typeof pid !== "string") pid = undefined; // recovery is off on the server
      this.id = id;
      this.recovered = pid !== undefined && pid === this._pid;
      this._pid = pid;
      this.connected = true;
      this._connecting = false;
      for (const args of this.receiveBuffer.splice(0)) this._dispatch(args);
      this._fire("connect");
      for (const packet of this.sendBuffer.splice(0)) this._packet(packet);
    }

    _onEvent(packet) {
      const args = packet.data.slice();
      if (packet.id !== undefined) args.push(this._ackReply(packet.id));
      if (this.connected) this._dispatch(args);
      else this.receiveBuffer.push(args);
    }

    _dispatch(args) {
      for (const fn of this._anyListeners.slice()) invokeListener(fn, this, args);
      this._fire(...args);
      // The server appends the offset to every event it could replay (not to volatile ones or
      // to those asking for an ack, whose last argument here is the reply function).
      if (this._pid && args.length > 1 && typeof args[args.length - 1] === "string") {
        this._lastOffset = args[args.length - 1];
      }
    }

    /** The callback handed to a listener when the server asked for an ack; answers once. */
    _ackReply(id) {
      let sent = false;
      return (...args) => {
        if (sent) return;
        sent = true;
        this._packet({ type: ACK, id, data: args });
      };
    }

    _onAck(packet) {
      const fn = this.acks[packet.id];
      if (typeof fn !== "function") return; // unknown or timed-out id
      delete this.acks[packet.id];
      fn.apply(this, packet.data);
    }

    _onServerDisconnect() {
      this.destroy();
      this._onClose("io server disconnect");
    }

    _onClose(reason, cause) {
      this._connecting = false;
      if (!this.connected) return;
      this.connected = false;
      this.id = undefined;
      this._failAcks();
      this._fire("disconnect", reason, cause);
    }

    /**
     * The server cannot answer acks of a connection that is gone: callbacks waiting with a timeout
     * get an error now; plain ones are dropped (unless their packet still waits in sendBuffer).
     */
    _failAcks() {
      const buffered = new Set(this.sendBuffer.map((p) => p.id));
      for (const id of Object.keys(this.acks)) {
        if (buffered.has(Number(id))) continue;
        const fn = this.acks[id];
        delete this.acks[id];
        if (fn.withError) fn.fail(new Error("socket has been disconnected"));
      }
    }

    destroy() {
      if (!this._subs) return;
      for (const unsubscribe of this._subs) unsubscribe();
      this._subs = null;
      this.io._destroy(this);
    }

    disconnect() {
      const wasConnected = this.connected;
      if (wasConnected) this._packet({ type: DISCONNECT });
      this.destroy();
      if (wasConnected) this._onClose("io client disconnect");
      return this;
    }

    close() {
      return this.disconnect();
    }

    send(...args) {
      return this.emit("message", ...args);
    }

    emit(event, ...args) {
      if (RESERVED_EVENTS.has(event)) throw new Error(`"${event}" is a reserved event name`);
      const flags = this.flags;
      this.flags = {};
      const packet = { type: EVENT, data: [event].concat(args) };
      if (typeof args[args.length - 1] === "function") {
        const id = this.ids++;
        const callback = packet.data.pop();
        this._registerAck(id, callback, flags.timeout !== undefined ? flags.timeout : this._ackTimeout);
        packet.id = id;
      }
      if (this.connected) this._packet(packet);
      else if (!flags.volatile) this.sendBuffer.push(packet);
      return this;
    }

    _registerAck(id, callback, timeout) {
      if (timeout === undefined) {
        this.acks[id] = callback;
        return;
      }
      // With a timeout the callback is error-first: (err) on timeout, (null, ...args) on ack.
      const timer = setTimeout(() => {
        delete this.acks[id];
        const i = this.sendBuffer.findIndex((p) => p.id === id);
        if (i !== -1) this.sendBuffer.splice(i, 1);
        callback.call(this, new Error("operation has timed out"));
      }, timeout);
      const onAck = (...args) => {
        clearTimeout(timer);
        callback.call(this, null, ...args);
      };
      onAck.withError = true;
      onAck.fail = (err) => {
        clearTimeout(timer);
        callback.call(this, err);
      };
      this.acks[id] = onAck;
    }

    /** Sets an ack timeout for the next emit only; its callback then becomes error-first. */
    timeout(ms) {
      this.flags.timeout = ms;
      return this;
    }

    /** Like emit with an ack callback, as a Promise of the ack's first argument. */
    emitWithAck(event, ...args) {
      const withTimeout = this.flags.timeout !== undefined || this._ackTimeout !== undefined;
      return new Promise((resolve, reject) => {
        args.push((first, second) => {
          if (!withTimeout) return resolve(first);
          if (first) reject(first);
          else resolve(second);
        });
        this.emit(event, ...args);
      });
    }

    compress() {
      return this; // per-message compression is the browser's business
    }

    _packet(packet) {
      packet.nsp = this.nsp;
      this.io._packet(packet);
    }

    onAny(fn) {
      this._anyListeners.push(fn);
      return this;
    }

    prependAny(fn) {
      this._anyListeners.unshift(fn);
      return this;
    }

    offAny(fn) {
      if (fn === undefined) this._anyListeners = [];
      else this._anyListeners = this._anyListeners.filter((l) => l !== fn);
      return this;
    }

    listenersAny() {
      return this._anyListeners.slice();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // io(): the entry point

  const managers = {};

  /** Turns what the user passed into an absolute URL ("localhost:3000" and "//host" included). */
  function resolveUrl(uri) {
    const base = root.location ? root.location.href : undefined;
    if (uri === undefined || uri === null || uri === "") {
      if (!base) throw new Error("io(): a URL is required outside a browser");
      return new URL("/", base);
    }
    let text = String(uri);
    if (text.startsWith("//")) text = (root.location ? root.location.protocol : "http:") + text;
    else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !text.startsWith("/")) {
      text = (root.location && root.location.protocol === "https:" ? "https://" : "http://") + text;
    }
    const url = base ? new URL(text, base) : new URL(text);
    if (url.protocol === "ws:") url.protocol = "http:";
    if (url.protocol === "wss:") url.protocol = "https:";
    return url;
  }

  function io(uri, opts) {
    if (typeof uri === "object" && uri !== null && !(uri instanceof URL)) {
      opts = uri;
      uri = undefined;
    }
    opts = Object.assign({}, opts);
    const url = resolveUrl(uri);
    const nsp = url.pathname && url.pathname !== "" ? url.pathname : "/";
    const query = {};
    for (const [key, value] of url.searchParams) query[key] = value;
    opts.query = Object.assign(query, opts.query);
    const key = url.origin + normalizePath(opts.path);
    const cached = managers[key];
    const fresh =
      opts.forceNew || opts["force new connection"] || opts.multiplex === false || (cached && cached.nsps[nsp]);
    let manager;
    if (fresh) manager = new Manager(url.origin, opts);
    else manager = managers[key] = cached || new Manager(url.origin, opts);
    return manager.socket(nsp, opts);
  }

  io.connect = io;
  io.Manager = Manager;
  io.Socket = Socket;
  io.protocol = 5;

  root.io = io;
  if (typeof globalThis !== "undefined" && globalThis !== root) globalThis.io = io;
})(typeof window !== "undefined" ? window : globalThis);
