// Private rooms on this device: its identity, the room keys it sends with and has received, and
// what runs around a private room's message — the on-device safety check before it is sealed,
// sealing, opening. The server only ever sees envelopes and encrypted key shares.
//
// Megolm's model with WebCrypto: each sender has its own room key, shared with every member
// device, each copy encrypted pairwise (ECDH + HKDF + AES-GCM). A sender starts a new key when
// a device it shared with is no longer a member's (someone left or was removed), after
// ROTATE_AFTER_MESSAGES messages and after ROTATE_AFTER_MS. A device reads messages sent with
// keys shared to it, so a new device reads from the moment it joins (no key backup yet).
import { loadDetector } from "../crisis/detector.js";
import { KeyStore } from "./keystore.js";
import {
  newIdentity, newRoomKey, openMessage, openRoomKey, randomId, safetyNumber, sealMessage, sealRoomKey,
} from "./crypto.js";

export const ROTATE_AFTER_MESSAGES = 100;
export const ROTATE_AFTER_MS = 7 * 24 * 3600 * 1000;
const SHARES_PER_CALL = 100;
const FETCH_AGAIN_MS = 2000;
export const ALERT_TIER = 2;

export class PrivateRooms {
  constructor(app) {
    this.app = app;
    this.conn = app.conn;
    this.store = app.store;
    this.keys = new KeyStore(app.me.id);
    this.identity = null;
    this.starting = null;
    this.fetching = null;
    this.receiving = Promise.resolve();
    this.sending = new Map(); // roomId -> the previous seal's promise: one at a time per room
    this.conn.on("keys:incoming", (share) => { this.receiving = this.receiving.then(() => this.receive([share])).catch(() => {}); });
    this.conn.addEventListener("resync", () => this.identity && this.fetchShares().catch(() => {}));
    this.store.unseal = (roomId, messages) => this.openAll(messages);
  }

  /** This device's identity, created on first use and registered with the server. */
  ready() {
    this.starting ||= (async () => {
      let identity = await this.keys.get("identity", "self");
      if (!identity) {
        identity = await newIdentity();
        await this.keys.put("identity", "self", identity);
      }
      const { device } = await this.conn.call("device:register", { identity_key: identity.publicKey });
      if (identity.deviceId !== device.id) {
        identity = { ...identity, deviceId: device.id };
        await this.keys.put("identity", "self", identity);
      }
      this.identity = identity;
      await this.fetchShares();
      return identity;
    })().catch((error) => {
      this.starting = null;
      throw error;
    });
    return this.starting;
  }

  async fetchShares() {
    const { shares } = await this.conn.call("keys:fetch", { device_id: this.identity.deviceId });
    if (shares.length) await this.receive(shares);
  }

  /** Store room keys shared with this device, then let the server forget its copies. */
  async receive(shares) {
    // ready() itself fetches shares once it knows the identity: use it directly, never wait on ready() there.
    const me = this.identity || await this.ready();
    const mine = shares.filter((s) => s.device_id === me.deviceId);
    const devices = new Map();
    const done = [];
    for (const share of mine) {
      if (!devices.has(share.room_id)) devices.set(share.room_id, await this.roomDevices(share.room_id).catch(() => []));
      const sender = devices.get(share.room_id).find((d) => d.id === share.sender_device_id && d.user_id === share.sender_id);
      if (sender) {
        try {
          const key = await openRoomKey(share, sender.identity_key, me);
          await this.keys.put("inbound", inboundId(share.room_id, share.sender_device_id, share.key_id), key);
        } catch {
          // A share that does not open was not made for this device's key: nothing to keep.
        }
      }
      done.push(share.id);
    }
    if (done.length) await this.conn.call("keys:ack", { device_id: me.deviceId, share_ids: done });
    for (const roomId of new Set(mine.map((s) => s.room_id))) await this.retryRoom(roomId);
  }

  async roomDevices(roomId) {
    return (await this.conn.call("room:devices", { room_id: roomId })).devices;
  }

  /** The envelope for one message: the sender's current room key, rotated and shared as needed. */
  seal(roomId, clientId, body) {
    const previous = this.sending.get(roomId) || Promise.resolve();
    const job = previous.catch(() => {}).then(() => this.sealNow(roomId, clientId, body));
    this.sending.set(roomId, job);
    return job;
  }

  async sealNow(roomId, clientId, body) {
    const me = await this.ready();
    const devices = await this.roomDevices(roomId);
    const current = new Set(devices.map((d) => d.id));
    let session = await this.keys.get("outbound", roomId);
    if (!session || session.count >= ROTATE_AFTER_MESSAGES || Date.now() - session.createdAt >= ROTATE_AFTER_MS
        || session.sharedWith.some((id) => !current.has(id))) {
      session = { keyId: randomId(), key: await newRoomKey(), count: 0, createdAt: Date.now(), sharedWith: [me.deviceId] };
      await this.keys.put("inbound", inboundId(roomId, me.deviceId, session.keyId), session.key);
    }
    const targets = devices.filter((d) => !session.sharedWith.includes(d.id));
    for (let i = 0; i < targets.length; i += SHARES_PER_CALL) {
      const batch = targets.slice(i, i + SHARES_PER_CALL);
      const shares = await Promise.all(batch.map((target) => sealRoomKey(session.key, session.keyId, roomId, me, target)));
      await this.conn.call("keys:share", { room_id: roomId, device_id: me.deviceId, shares });
      session.sharedWith.push(...batch.map((d) => d.id));
      await this.keys.put("outbound", roomId, session);
    }
    const sealed = await sealMessage(session.key, session.keyId, { roomId, senderId: this.app.me.id, deviceId: me.deviceId, clientId, body });
    session.count += 1;
    await this.keys.put("outbound", roomId, session);
    return sealed;
  }

  /** Open sealed messages in place: ``body`` becomes the plaintext, or says it cannot be read. */
  async openAll(messages) {
    const sealed = messages.filter((m) => m.sealed);
    if (!sealed.length) return;
    await this.ready().catch(() => {});
    for (const message of sealed) await this.open(message);
  }

  async open(message) {
    message.sealedBy = "e2e";
    try {
      const key = await this.inboundKey(message);
      message.body = await openMessage(key, message);
      message.undecryptable = false;
    } catch {
      message.body = null;
      message.undecryptable = true;
    }
    return message;
  }

  async inboundKey(message) {
    const id = inboundId(message.room_id, message.sealed.device_id, message.sealed.key_id);
    let key = await this.keys.get("inbound", id);
    if (!key) {
      // The key share travels just before its first message: wait for what is arriving, then ask once.
      await this.receiving;
      key = await this.keys.get("inbound", id);
    }
    if (!key && this.identity) {
      // One fetch serves every message opened meanwhile (a page of history without keys asks once).
      this.fetching ||= this.fetchShares().finally(() => setTimeout(() => { this.fetching = null; }, FETCH_AGAIN_MS));
      await this.fetching.catch(() => {});
      key = await this.keys.get("inbound", id);
    }
    if (!key) throw new Error("no key for this message on this device");
    return key;
  }

  /** Messages of a room that could not be opened are tried again once new keys arrived. */
  async retryRoom(roomId) {
    const timeline = this.store.timelines.get(roomId);
    const waiting = timeline?.messages.filter((m) => m.undecryptable && m.sealed) || [];
    const changed = [];
    for (const message of waiting) {
      const id = inboundId(roomId, message.sealed.device_id, message.sealed.key_id);
      if (await this.keys.get("inbound", id)) changed.push(await this.open(message));
    }
    if (changed.some((m) => !m.undecryptable)) this.store.emit("timeline", { roomId, added: [], changed });
  }

  /** The writer's own message, checked on this device before it is sealed (consent on). */
  async scan(room, body, language) {
    if (!room.safety_monitoring) return null;
    const detector = await loadDetector();
    const found = detector.detect(body, language || this.app.me.locale || null);
    return found.tier >= 1 ? { tier: found.tier, excerpt: found.excerpt(160), language: found.language } : null;
  }

  /** What a finding sends once its message is stored: the tier and the excerpt, nothing else. */
  report(room, message, finding) {
    return this.conn.call("crisis:device_alert", { room_id: room.id, message_id: message.id, ...finding });
  }

  /** The safety number this device shares with each device of another member. */
  async safetyNumbers(roomId, userId) {
    const me = await this.ready();
    const devices = (await this.roomDevices(roomId)).filter((d) => d.user_id === userId);
    return Promise.all(devices.map(async (d) => ({ device: d.id, digits: await safetyNumber(me.publicKey, d.identity_key) })));
  }

  /** For the tests' diagnostics: whether this device can open a message it was (or was not) sent. */
  async canOpen(message) {
    const copy = await this.open({ ...message, body: null });
    return copy.undecryptable ? null : copy.body;
  }
}

function inboundId(roomId, deviceId, keyId) {
  return `${roomId}|${deviceId}|${keyId}`;
}
