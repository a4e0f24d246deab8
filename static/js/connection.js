// One Socket.IO connection per signed-in tab: acks as promises, connection state as events.
//
// Events dispatched on the Connection (an EventTarget):
//   "status"       detail {state: "connecting" | "online" | "reconnecting"}
//   "resync"       after every reconnect: views re-join rooms with their last seq to fetch what they missed
//   "unauthorized" the token is no longer accepted: the app returns to the sign-in page
import { io } from "/vendor/socket.io/socket.io.esm.min.js";
import { ApiError } from "./api.js";

const CALL_TIMEOUT_MS = 15000;
// After the server says goodbye (restart, deploy) we come back after this pause.
const SERVER_GOODBYE_RETRY_MS = 500;

export class Connection extends EventTarget {
  /** @param {string} namespace "/" for chat; "/responders" for the crisis console (same engine connection). */
  constructor(token, namespace = "/") {
    super();
    this.token = token;
    this.state = "connecting";
    this.everConnected = false;
    this.socket = io(location.origin + (namespace === "/" ? "" : namespace), {
      auth: { token },
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      autoConnect: false,
    });
    this.socket.on("connect", () => {
      const again = this.everConnected;
      this.everConnected = true;
      this.setState("online");
      if (again) this.dispatchEvent(new Event("resync"));
    });
    this.socket.on("disconnect", (reason) => {
      this.setState("reconnecting");
      // A server-initiated disconnect is not retried by socket.io-client; a restarting server
      // must not strand the tab, and a revoked token is caught by connect_error below.
      if (reason === "io server disconnect") setTimeout(() => this.socket.connect(), SERVER_GOODBYE_RETRY_MS);
    });
    this.socket.on("connect_error", (err) => {
      if (err?.data?.code === "unauthorized") {
        this.dispatchEvent(new Event("unauthorized"));
        this.close();
        return;
      }
      this.setState(this.everConnected ? "reconnecting" : "connecting");
    });
  }

  open() {
    this.socket.connect();
  }

  close() {
    this.socket.disconnect();
  }

  firstConnect(timeoutMs) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.socket.off("connect", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.socket.on("connect", done);
    });
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state } }));
  }

  get online() {
    return this.socket.connected;
  }

  /** Listen to a server event. */
  on(event, handler) {
    this.socket.on(event, handler);
  }

  /**
   * Send an event and wait for its ack. Resolves with the ack's fields; rejects with an ApiError
   * carrying the server's code, or "offline" at once when disconnected (no silent buffering:
   * callers that must not lose work keep it and retry after "resync").
   */
  async call(event, payload, timeoutMs = CALL_TIMEOUT_MS) {
    // The first connection of a fresh page is still being made: wait for it rather than fail.
    if (!this.everConnected && this.state === "connecting") await this.firstConnect(timeoutMs);
    if (!this.socket.connected) throw new ApiError("offline", "");
    let reply;
    try {
      reply = await this.socket.timeout(timeoutMs).emitWithAck(event, payload);
    } catch {
      throw new ApiError("timeout", "");
    }
    if (!reply || reply.ok !== true) {
      const error = reply?.error || {};
      throw new ApiError(error.code || "error", error.message || "", error.details);
    }
    return reply;
  }
}
