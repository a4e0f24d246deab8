// Drives the official socket.io-client (npm) through the chat flow; prints one JSON line per step.
// Usage: node tests/js/chat_flow.mjs URL TOKEN_A TOKEN_B OTHER_USER_ID
import { io } from "socket.io-client";

const [url, tokenA, tokenB, otherId] = process.argv.slice(2);
const log = (step, data) => console.log(JSON.stringify({ step, ...data }));
const connect = (token) =>
  new Promise((resolve, reject) => {
    const s = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (err) => reject(new Error(JSON.stringify(err.data ?? err.message))));
  });
const call = (s, event, payload) => s.timeout(10000).emitWithAck(event, payload);
const timer = setTimeout(() => { log("timeout", {}); process.exit(3); }, 20000);

try {
  await connect("bad-token").then(() => log("bad_token_connected", {}), (e) => log("bad_token_refused", { reason: e.message }));
  const a = await connect(tokenA);
  const b = await connect(tokenB);
  const created = await call(a, "room:create", { kind: "direct", member_ids: [otherId] });
  const roomId = created.room.id;
  await call(a, "room:join", { room_id: roomId });
  await call(b, "room:join", { room_id: roomId });
  const received = new Promise((resolve) => b.on("message:new", (m) => resolve(m)));
  const sent = await call(a, "message:send", { room_id: roomId, client_id: "js-1", body: "hola desde node" });
  const again = await call(a, "message:send", { room_id: roomId, client_id: "js-1", body: "hola desde node" });
  const got = await received;
  const reply = await call(b, "message:send", { room_id: roomId, client_id: "js-2", body: "hello back" });
  const bad = await call(b, "message:send", { room_id: roomId });
  const history = await call(a, "message:history", { room_id: roomId, after_seq: 0, limit: 10 });
  log("done", {
    sent_ok: sent.ok, seq: sent.message.seq, same_id: again.message.id === sent.message.id,
    received_body: got.body, reply_seq: reply.message.seq, bad_code: bad.error?.code,
    still_connected: b.connected, history: history.messages.map((m) => m.body),
  });
  a.close(); b.close();
  clearTimeout(timer);
} catch (e) {
  log("error", { message: String(e) });
  process.exit(2);
}
