// The reference peer: a bare Node socket.io 4.8 relay with the same wire shape as our chat path
// (auth token, room:join, message:send -> message:new to the room, ack) and nothing else:
// no storage, no auth check, no limits. It tells us what the transport alone costs.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 0);
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end('{"status":"ok"}');
});
const io = new Server(server, { transports: ["websocket"], serveClient: false });
const seqs = new Map();

io.on("connection", (socket) => {
  socket.on("room:join", (p, ack) => {
    socket.join("room:" + p.room_id);
    ack({ ok: true, last_seq: seqs.get(p.room_id) || 0 });
  });
  socket.on("message:send", (p, ack) => {
    const seq = (seqs.get(p.room_id) || 0) + 1;
    seqs.set(p.room_id, seq);
    const message = { id: p.client_id, seq, room_id: p.room_id, sender_id: socket.id, client_id: p.client_id, body: p.body };
    io.to("room:" + p.room_id).emit("message:new", message);
    ack({ ok: true, message });
  });
});
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("SIGTERM", () => process.exit(0));
