// The cryptography of private rooms, all of it WebCrypto (docs/private-rooms.md says why):
// ECDH P-256 identity keys per device, HKDF to derive a pairwise key between two devices,
// AES-GCM 256 for room keys and messages. Nothing here is hand-rolled beyond putting these
// primitives together; every associated-data string binds a ciphertext to where it belongs.

const subtle = crypto.subtle;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ECDH = { name: "ECDH", namedCurve: "P-256" };
export const ENVELOPE_VERSION = 1;

export function toBase64(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (let i = 0; i < view.length; i += 4096) binary += String.fromCharCode(...view.subarray(i, i + 4096));
  return btoa(binary);
}

export function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A new identity: the private half is non-extractable, so no script can ever read it out. */
export async function newIdentity() {
  const pair = await subtle.generateKey(ECDH, false, ["deriveBits"]);
  const publicKey = toBase64(await subtle.exportKey("spki", pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

/** The AES key two devices share for sending room keys, bound to the room and both devices. */
async function pairwiseKey(privateKey, theirPublicKey, roomId, fromDevice, toDevice) {
  const theirs = await subtle.importKey("spki", fromBase64(theirPublicKey), ECDH, false, []);
  const secret = await subtle.deriveBits({ name: "ECDH", public: theirs }, privateKey, 256);
  const hkdf = await subtle.importKey("raw", secret, "HKDF", false, ["deriveKey"]);
  return subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: encoder.encode(`mentalverse room ${roomId}`), info: encoder.encode(`key share ${fromDevice} -> ${toDevice}`) },
    hkdf, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

function shareAad(roomId, keyId, fromDevice, toDevice) {
  return encoder.encode(JSON.stringify(["mv-key-share", 1, roomId, keyId, fromDevice, toDevice]));
}

function messageAad(roomId, senderId, deviceId, keyId, clientId) {
  return encoder.encode(JSON.stringify(["mv-message", ENVELOPE_VERSION, roomId, senderId, deviceId, keyId, clientId]));
}

/** A sender's new room key (Megolm's outbound session, without the ratchet: rotated instead). */
export function newRoomKey() {
  return subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
}

/** The room key, encrypted for one member device. */
export async function sealRoomKey(roomKey, keyId, roomId, me, target) {
  const wrapping = await pairwiseKey(me.privateKey, target.identity_key, roomId, me.deviceId, target.id);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const raw = await subtle.exportKey("raw", roomKey);
  const ciphertext = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: shareAad(roomId, keyId, me.deviceId, target.id) }, wrapping, raw);
  return { device_id: target.id, key_id: keyId, iv: toBase64(iv), ciphertext: toBase64(ciphertext) };
}

/** A room key shared with this device, imported non-extractable (it never leaves again). */
export async function openRoomKey(share, senderIdentityKey, me) {
  const wrapping = await pairwiseKey(me.privateKey, senderIdentityKey, share.room_id, share.sender_device_id, me.deviceId);
  const raw = await subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(share.iv), additionalData: shareAad(share.room_id, share.key_id, share.sender_device_id, me.deviceId) },
    wrapping, fromBase64(share.ciphertext));
  return subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
}

export async function sealMessage(roomKey, keyId, { roomId, senderId, deviceId, clientId, body }) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: messageAad(roomId, senderId, deviceId, keyId, clientId) },
    roomKey, encoder.encode(body));
  return { v: ENVELOPE_VERSION, device_id: deviceId, key_id: keyId, iv: toBase64(iv), ciphertext: toBase64(ciphertext) };
}

/** The plaintext of a sealed message; throws when the key is wrong or anything was changed. */
export async function openMessage(roomKey, message) {
  const s = message.sealed;
  const plain = await subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(s.iv), additionalData: messageAad(message.room_id, message.sender_id, s.device_id, s.key_id, message.client_id) },
    roomKey, fromBase64(s.ciphertext));
  return decoder.decode(plain);
}

/**
 * The safety number of two devices: a digest of both public identity keys (in a fixed order), as
 * twelve groups of five digits. Both people see the same digits when nobody sits in between.
 */
export async function safetyNumber(keyA, keyB) {
  const [first, second] = [keyA, keyB].sort();
  const digest = new Uint8Array(await subtle.digest("SHA-512", encoder.encode(`mv-safety-number|${first}|${second}`)));
  const groups = [];
  for (let i = 0; i < 12; i += 1) {
    let value = 0;
    for (let k = 0; k < 5; k += 1) value = (value * 256 + digest[i * 5 + k]) % 100000;
    groups.push(String(value).padStart(5, "0"));
  }
  return groups;
}
