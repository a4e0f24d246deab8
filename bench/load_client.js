// One load-generator process: holds a slice of the bench users' connections, sends at a given
// rate with a timestamp in each body, and measures delivery latency on every receiving member.
// Driven by bench/load.py over stdin/stdout, one JSON object per line.
"use strict";
const { io } = require("socket.io-client");
const readline = require("readline");

const now = () => performance.timeOrigin + performance.now();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
let sockets = [];
let latencies = [];
let delivered = 0;
let measuring = false;

// Connect in batches: a storm of thousands of simultaneous handshakes overflows the listen backlog.
const CONNECT_BATCH = 50;
async function connectAll(url, users) {
  const all = [];
  for (let i = 0; i < users.length; i += CONNECT_BATCH) {
    all.push(...await connectBatch(url, users.slice(i, i + CONNECT_BATCH)));
  }
  return all;
}

function connectBatch(url, users) {
  return Promise.all(users.map((u) => new Promise((resolve, reject) => {
    const s = io(u.url || url, { transports: ["websocket"], auth: { token: u.token }, reconnection: false, forceNew: true, timeout: 60000 });
    s.on("connect", () => {
      s.timeout(60000).emit("room:join", { room_id: u.room_id }, (err, reply) => {
        if (err || !reply.ok) return reject(new Error("join failed " + JSON.stringify(err || reply)));
        resolve(s);
      });
    });
    s.on("connect_error", (e) => reject(e));
    s.on("message:new", (m) => {
      if (!measuring) return;
      const t = Number(m.body.split(" ", 1)[0]);
      if (t > 0) { latencies.push(now() - t); delivered++; }
    });
    s.user = u;
  })));
}

async function run(cmd) {
  if (cmd.op === "connect") {
    sockets = await connectAll(cmd.url, cmd.users);
    out({ op: "connected", count: sockets.length });
  } else if (cmd.op === "send") {
    // Each socket sends `perSocket` messages/s for `duration` s, staggered to spread the load.
    latencies = []; delivered = 0; measuring = true;
    let sent = 0, acked = 0, failed = 0;
    const interval = 1000 / cmd.per_socket;
    const end = now() + cmd.duration * 1000;
    const timers = sockets.map((s, i) => new Promise((resolve) => {
      let n = 0;
      const tick = () => {
        if (now() >= end) return resolve();
        const cid = `${cmd.tag}-${s.user.idx}-${n++}`;
        sent++;
        s.timeout(30000).emit("message:send", { room_id: s.user.room_id, client_id: cid, body: `${now()} bench` }, (err, reply) => {
          if (!err && reply && reply.ok) acked++; else failed++;
        });
        setTimeout(tick, interval);
      };
      setTimeout(tick, (i * interval) / sockets.length);
    }));
    await Promise.all(timers);
    await new Promise((r) => setTimeout(r, cmd.drain * 1000));
    measuring = false;
    latencies.sort((a, b) => a - b);
    // A bounded sample keeps the line short while keeping the percentiles honest.
    const step = Math.max(1, Math.floor(latencies.length / 2000));
    const sample = latencies.filter((_, i) => i % step === 0);
    out({ op: "sent", sent, acked, failed, delivered, sample, max: latencies.length ? latencies[latencies.length - 1] : 0 });
  } else if (cmd.op === "disconnect") {
    for (const s of sockets) s.disconnect();
    sockets = [];
    out({ op: "disconnected" });
  } else if (cmd.op === "exit") {
    process.exit(0);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => { run(JSON.parse(line)).catch((e) => { out({ op: "error", error: String(e) }); }); });
