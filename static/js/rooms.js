// The rooms of the signed-in user and everything live about them: members, presence, typing,
// read positions and message timelines. It keeps timelines complete across reconnects and lost
// fan-outs (see docs/protocol.md, "Guarantees") and tells views what changed through events:
//   "rooms"    the list or a room's details changed
//   "timeline" detail {roomId, added, changed}
//   "presence" / "typing" / "receipts"  detail {roomId}
//   "incoming" detail {roomId, message}  a live message from someone else (for notices)
//   "responder_joined" detail {roomId, responder}  a crisis responder from MentalVerse joined a room
import { Timeline } from "./timeline.js";

const PAGE_SIZE = 50;
const GAP_PAGE_SIZE = 500;
// A reconnect gap larger than this many pages is not replayed: the timeline restarts at the newest page.
const MAX_GAP_PAGES = 10;
const TYPING_EXPIRY_MS = 6000;
// Group actions after which a room's member list is fetched again.
const MEMBERSHIP_ACTIONS = new Set(["member.join", "member.leave", "remove", "role", "handover", "reclaim"]);

export class RoomStore extends EventTarget {
  constructor(connection, me) {
    super();
    this.conn = connection;
    this.me = me;
    this.rooms = new Map();
    this.timelines = new Map();
    this.previews = new Map(); // room id -> {seq, sender_id, kind, deleted, created_at, sealed, excerpt}
    // room id -> {count, through}: others' unread messages (the server's count, then live), and
    // the newest seq counted, so a message seen twice (resync, gap fill) counts once.
    this.unreadCounts = new Map();
    this.online = new Map(); // roomId -> Set(userId)
    this.typing = new Map(); // roomId -> Map(userId -> expiry timer)
    this.filling = new Map(); // roomId -> Promise of a running gap fill
    this.joinedResponders = new Map(); // roomId -> the crisis responder who joined during this visit
    // Extra message:history fields a feature asks for (translation: {translate_to}).
    this.historyOptions = () => ({});
    // Private rooms (private/session.js): opens sealed messages in place before they are merged.
    this.unseal = null;
    this.merging = new Map(); // roomId -> the previous merge, so opened messages merge in arrival order
    this.listen();
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  listen() {
    const c = this.conn;
    c.on("room:added", ({ room }) => {
      this.upsertRoom(room);
      this.join(room.id).catch(() => {});
    });
    c.on("message:new", (message) => this.receive(message));
    c.on("room:responder_joined", ({ room_id, responder }) => {
      // The member list (with the responder's room role) comes fresh from room:join; a private
      // crisis room the writer did not know yet is added the same way.
      this.joinedResponders.set(room_id, responder);
      this.join(room_id)
        .catch(() => {})
        .then(() => this.emit("responder_joined", { roomId: room_id, responder }));
    });
    c.on("group:action", ({ room_id, action }) => {
      if (MEMBERSHIP_ACTIONS.has(action) && this.rooms.has(room_id)) this.join(room_id).catch(() => {});
    });
    c.on("message:edited", (message) => this.mergeInto(message.room_id, [message]));
    c.on("message:reactions", ({ room_id, message_id, reactions }) => {
      const changed = this.timelines.get(room_id)?.setReactions(message_id, reactions);
      if (changed) this.emit("timeline", { roomId: room_id, added: [], changed: [changed] });
    });
    c.on("message:deleted", ({ room_id, message_id }) => {
      const changed = this.timelines.get(room_id)?.markDeleted(message_id);
      if (changed) this.emit("timeline", { roomId: room_id, added: [], changed: [changed] });
    });
    c.on("presence:state", ({ room_id, online }) => {
      this.online.set(room_id, new Set(online));
      this.emit("presence", { roomId: room_id });
    });
    c.on("presence", ({ room_id, user_id, online }) => {
      const set = this.online.get(room_id) || new Set();
      if (online) set.add(user_id);
      else set.delete(user_id);
      this.online.set(room_id, set);
      this.emit("presence", { roomId: room_id });
    });
    c.on("typing", ({ room_id, user_id, typing }) => this.setTyping(room_id, user_id, typing));
    c.on("room:safety_monitoring", ({ room_id, safety_monitoring }) => {
      const room = this.rooms.get(room_id);
      if (room) {
        room.safety_monitoring = safety_monitoring;
        this.emit("rooms");
      }
    });
    c.on("receipt:read", ({ room_id, user_id, seq }) => {
      const member = this.rooms.get(room_id)?.members.find((m) => m.id === user_id);
      if (member && seq > member.last_read_seq) {
        member.last_read_seq = seq;
        this.emit("receipts", { roomId: room_id });
        this.emit("rooms");
      }
    });
    c.addEventListener("resync", () => this.resync().catch(() => {}));
  }

  upsertRoom(room) {
    const known = this.rooms.get(room.id);
    this.rooms.set(room.id, known ? Object.assign(known, room) : room);
    this.emit("rooms");
  }

  /** Load the room list and subscribe to every room's live events. */
  async load() {
    const { rooms } = await this.conn.call("room:list");
    for (const room of rooms) this.rooms.set(room.id, room);
    this.emit("rooms");
    this.loadPreviews().catch(() => {});
    await Promise.all(rooms.map((room) => this.join(room.id)));
  }

  /** After a reconnect the new connection is in no room: join again, replaying each gap by seq. */
  async resync() {
    await Promise.all([...this.rooms.keys()].map((id) => this.join(id)));
    await this.loadPreviews().catch(() => {});
  }

  async join(roomId) {
    const timeline = this.timelines.get(roomId);
    const payload = { room_id: roomId };
    if (timeline?.loaded) payload.last_seq = timeline.lastSeq;
    const reply = await this.conn.call("room:join", payload);
    this.upsertRoom(reply.room);
    if (timeline?.loaded && reply.messages) {
      this.mergeInto(roomId, reply.messages);
      if (reply.has_more) await this.fillGap(roomId);
    }
  }

  /** The room list's newest message per room (from the server; live messages update it). */
  async loadPreviews() {
    const { previews } = await this.conn.call("room:previews");
    for (const { room_id, last, unread } of previews) {
      if (last) this.previews.set(room_id, last);
      this.unreadCounts.set(room_id, { count: unread ?? 0, through: last?.seq ?? 0 });
    }
    this.emit("rooms");
  }

  receive(message) {
    const known = this.previews.get(message.room_id);
    if (!known || known.seq <= message.seq) {
      this.previews.set(message.room_id, { seq: message.seq, sender_id: message.sender_id, kind: message.kind, deleted: false, created_at: message.created_at, sealed: Boolean(message.sealed), excerpt: (message.body || "").slice(0, 80) });
    }
    const counted = this.unreadCounts.get(message.room_id);
    if (counted && message.seq > counted.through) {
      counted.through = message.seq;
      if (message.sender_id !== this.me.id) counted.count += 1;
    }
    const room = this.rooms.get(message.room_id);
    if (room && message.seq > room.last_seq) {
      room.last_seq = message.seq;
      this.emit("rooms");
    }
    const timeline = this.timelines.get(message.room_id);
    if (timeline?.hasGapBefore(message.seq)) {
      // A fan-out was lost (restart, Redis hiccup): fetch everything after what we hold.
      this.fillGap(message.room_id).catch(() => {});
    } else {
      this.mergeInto(message.room_id, [message]);
    }
    if (message.sender_id !== this.me.id) {
      this.setTyping(message.room_id, message.sender_id, false);
      this.emit("incoming", { roomId: message.room_id, message });
    }
  }

  mergeInto(roomId, messages) {
    if (!this.unseal || !messages.some((m) => m.sealed)) return this.mergeNow(roomId, messages);
    const previous = this.merging.get(roomId) || Promise.resolve();
    const job = previous.then(() => this.unseal(roomId, messages)).catch(() => {}).then(() => this.mergeNow(roomId, messages));
    this.merging.set(roomId, job);
    return job;
  }

  mergeNow(roomId, messages) {
    const timeline = this.timelines.get(roomId);
    if (!timeline?.loaded || !messages.length) return;
    const { added, changed } = timeline.merge(messages);
    if (added.length || changed.length) this.emit("timeline", { roomId, added, changed });
  }

  /** Fetch everything after the newest message held, page by page; one fill per room at a time. */
  fillGap(roomId) {
    const running = this.filling.get(roomId);
    if (running) return running.then(() => this.fillGapIfBehind(roomId));
    const job = (async () => {
      const timeline = this.timelines.get(roomId);
      for (let page = 0; page < MAX_GAP_PAGES; page++) {
        const reply = await this.conn.call("message:history", { room_id: roomId, after_seq: timeline.lastSeq, limit: GAP_PAGE_SIZE, ...this.historyOptions() });
        await this.mergeInto(roomId, reply.messages);
        if (!reply.has_more) return;
      }
      await this.reloadNewest(roomId);
    })().finally(() => this.filling.delete(roomId));
    this.filling.set(roomId, job);
    return job;
  }

  async fillGapIfBehind(roomId) {
    const timeline = this.timelines.get(roomId);
    const room = this.rooms.get(roomId);
    if (timeline && room && room.last_seq > timeline.lastSeq) await this.fillGap(roomId);
  }

  async reloadNewest(roomId) {
    const fresh = new Timeline(roomId);
    this.timelines.set(roomId, fresh);
    await this.loadNewest(roomId);
  }

  /** The newest page of a room, fetched the first time the room is opened. */
  async open(roomId) {
    let timeline = this.timelines.get(roomId);
    if (!timeline) {
      timeline = new Timeline(roomId);
      this.timelines.set(roomId, timeline);
    }
    if (!timeline.loaded) await this.loadNewest(roomId);
    return timeline;
  }

  async loadNewest(roomId) {
    const timeline = this.timelines.get(roomId);
    const reply = await this.conn.call("message:history", { room_id: roomId, limit: PAGE_SIZE, ...this.historyOptions() });
    timeline.loaded = true;
    timeline.hasMoreBefore = reply.has_more;
    timeline.knownLastSeq = reply.messages.at(-1)?.seq ?? 0;
    await this.mergeInto(roomId, reply.messages);
    await this.fillGapIfBehind(roomId);
  }

  /** One page of older history (scrolling up); returns how many messages were added. */
  async loadOlder(roomId) {
    const timeline = this.timelines.get(roomId);
    if (!timeline?.loaded || !timeline.hasMoreBefore) return 0;
    const reply = await this.conn.call("message:history", { room_id: roomId, before_seq: timeline.firstSeq, limit: PAGE_SIZE, ...this.historyOptions() });
    timeline.hasMoreBefore = reply.has_more;
    if (this.unseal) await this.unseal(roomId, reply.messages);
    const { added, changed } = timeline.merge(reply.messages);
    if (added.length || changed.length) this.emit("timeline", { roomId, added, changed, older: true });
    return added.length;
  }

  setTyping(roomId, userId, typing) {
    if (userId === this.me.id) return;
    const room = this.typing.get(roomId) || new Map();
    clearTimeout(room.get(userId));
    if (typing) room.set(userId, setTimeout(() => this.setTyping(roomId, userId, false), TYPING_EXPIRY_MS));
    else if (!room.has(userId)) return;
    else room.delete(userId);
    this.typing.set(roomId, room);
    this.emit("typing", { roomId });
  }

  typingNames(roomId) {
    return [...(this.typing.get(roomId)?.keys() || [])].map((id) => this.memberName(roomId, id));
  }

  isOnline(roomId, userId) {
    return this.online.get(roomId)?.has(userId) ?? false;
  }

  member(roomId, userId) {
    return this.rooms.get(roomId)?.members.find((m) => m.id === userId);
  }

  memberName(roomId, userId) {
    const member = this.member(roomId, userId);
    return member ? member.display_name || member.username : "";
  }

  /** The other person of a two-person room: direct, or a private crisis room (null for groups). */
  peer(room) {
    return room.kind === "direct" || room.kind === "crisis" ? room.members.find((m) => m.id !== this.me.id) ?? null : null;
  }

  title(room) {
    if (room.title) return room.title;
    const others = room.members.filter((m) => m.id !== this.me.id);
    return others.map((m) => m.display_name || m.username).join(", ") || room.id;
  }

  /** Others' messages not yet read: the server's count kept live; before it arrives, a guess by seq. */
  unread(room) {
    const mine = room.members.find((m) => m.id === this.me.id);
    const readSeq = mine?.last_read_seq ?? 0;
    const counted = this.unreadCounts.get(room.id);
    if (counted) return readSeq >= counted.through ? 0 : counted.count;
    return Math.max(0, room.last_seq - readSeq);
  }

  async markRead(roomId, seq) {
    const mine = this.member(roomId, this.me.id);
    if (!mine || seq <= mine.last_read_seq) return;
    const reply = await this.conn.call("receipt:read", { room_id: roomId, seq });
    if (reply.seq > mine.last_read_seq) {
      mine.last_read_seq = reply.seq;
      this.emit("rooms");
    }
  }

  /** Open (or create) the direct room with a user found by username; private: end-to-end encrypted. */
  async directRoomWith(username, { private: sealed = false } = {}) {
    const { user } = await this.conn.call("user:find", { username });
    const existing = [...this.rooms.values()].find((r) => r.kind === "direct" && Boolean(r.private) === sealed
      && r.members.some((m) => m.id === user.id));
    if (existing) return existing;
    const { room } = await this.conn.call("room:create", { kind: "direct", member_ids: [user.id], private: sealed });
    this.upsertRoom(room);
    await this.join(room.id);
    return room;
  }
}
