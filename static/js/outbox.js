// Messages typed but not yet acknowledged by the server. Each keeps its client_id, so a retry
// after a timeout or a reconnect is stored once (the server dedupes by sender + client_id).
const RETRYABLE = new Set(["offline", "timeout", "rate_limited", "internal"]);

export function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Outbox extends EventTarget {
  constructor(connection, store) {
    super();
    this.conn = connection;
    this.store = store;
    this.items = new Map(); // clientId -> {roomId, clientId, body, state, error}
    this.privateRooms = null; // seals a private room's messages (private/session.js), set by the app
    connection.addEventListener("resync", () => this.retryWaiting());
    store.addEventListener("timeline", ({ detail }) => {
      for (const message of detail.added) this.settled(message);
    });
  }

  forRoom(roomId) {
    return [...this.items.values()].filter((item) => item.roomId === roomId);
  }

  async send(roomId, body, language, replyTo = "") {
    const item = { roomId, clientId: newClientId(), body, language, replyTo, state: "sending", error: null };
    this.items.set(item.clientId, item);
    this.changed(roomId);
    await this.deliver(item);
  }

  async deliver(item) {
    item.state = "sending";
    this.changed(item.roomId);
    let payload = { room_id: item.roomId, client_id: item.clientId, body: item.body };
    if (item.language) payload.language = item.language;
    if (item.replyTo) payload.reply_to = item.replyTo;
    const room = this.store.rooms.get(item.roomId);
    const sealing = room?.private && this.privateRooms;
    try {
      let finding = null;
      if (sealing) {
        // Checked on this device before it is sealed: the server can no longer read it.
        finding = await this.privateRooms.scan(room, item.body, item.language).catch(() => null);
        payload = { room_id: item.roomId, client_id: item.clientId, sealed: await this.privateRooms.seal(item.roomId, item.clientId, item.body),
          ...(item.replyTo ? { reply_to: item.replyTo } : {}) };
      }
      const { message } = await this.conn.call("message:send", payload);
      this.items.delete(item.clientId);
      this.store.mergeInto(item.roomId, [message]);
      this.changed(item.roomId);
      if (finding) await this.privateRooms.report(room, message, finding).catch(() => {});
    } catch (error) {
      if (!this.items.has(item.clientId)) return;
      item.state = error.code === "offline" || error.code === "timeout" ? "waiting" : "failed";
      item.error = error;
      item.retryable = RETRYABLE.has(error.code);
      this.changed(item.roomId);
    }
  }

  retry(clientId) {
    const item = this.items.get(clientId);
    if (item) this.deliver(item);
  }

  discard(clientId) {
    const item = this.items.get(clientId);
    if (!item) return;
    this.items.delete(clientId);
    this.changed(item.roomId);
  }

  retryWaiting() {
    for (const item of this.items.values()) if (item.state === "waiting") this.deliver(item);
  }

  /** A stored message with one of our client ids arrived (live or by resync): it is sent. */
  settled(message) {
    if (message.sender_id !== this.store.me.id) return;
    const item = this.items.get(message.client_id);
    if (item && item.roomId === message.room_id) {
      this.items.delete(message.client_id);
      this.changed(item.roomId);
    }
  }

  changed(roomId) {
    this.dispatchEvent(new CustomEvent("change", { detail: { roomId } }));
  }
}
