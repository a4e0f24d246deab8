// Audio and video calls (docs/protocol.md, "Calls and media").
//
// A direct room's call is peer to peer: the two browsers negotiate with the standard "perfect
// negotiation" pattern, the server-assigned `polite` flag deciding who yields when both offer at
// once, and trickle ICE through call:ice. A group room's call (or a 1:1 whose peer-to-peer
// connection failed) goes through the server's media relay: one offer carrying all candidates,
// own microphone and camera first, then the receive-only slots the server fills.
//
// CallManager lives as long as the signed-in workspace: it shows incoming calls, adds the call
// buttons to a conversation and owns the one active CallSession (the call panel).
import { el, show } from "./dom.js";
import { t } from "./i18n.js";
import { errorText } from "./chat.js";
import { QualityMeter, readTotals } from "./callquality.js";

const SIGNALING_EVENTS = ["call:offer", "call:answer", "call:ice"];
const GATHERING_TIMEOUT_MS = 10000; // the relay takes no trickled candidates: wait, but not forever
const END_REASONS = new Set(["hangup", "declined", "no_answer", "disconnected"]);

export class CallManager {
  /** @param {object} app {conn, store, me, announce} */
  constructor(app) {
    this.app = app;
    this.active = null;
    this.rings = new Map(); // call id -> incoming-call notice
    this.region = el("div", { class: "call-region" });
    document.body.append(this.region);
    const c = app.conn;
    c.on("call:ring", (event) => this.onRing(event));
    c.on("call:answered_elsewhere", ({ call_id }) => this.dismissRing(call_id));
    c.on("call:accepted", (event) => this.sessionFor(event.call_id)?.onAccepted(event));
    c.on("call:declined", (event) => this.sessionFor(event.call_id)?.onDeclined(event));
    c.on("call:left", (event) => this.sessionFor(event.call_id)?.onLeft(event));
    c.on("call:media_state", (event) => this.sessionFor(event.call_id)?.onMediaState(event));
    c.on("call:ended", (event) => {
      this.dismissRing(event.call_id);
      this.sessionFor(event.call_id)?.finish(event.reason);
    });
    for (const name of SIGNALING_EVENTS) c.on(name, (data) => this.sessionFor(data.call_id)?.signal(name, data));
  }

  sessionFor(callId) {
    return this.active?.id === callId ? this.active : null;
  }

  destroy() {
    this.active?.close();
    this.region.remove();
  }

  /** The conversation header's call buttons: audio first (a voice is what a person in crisis needs first). */
  decorateChat(chat) {
    const start = (media) => () => this.start(chat.roomId, media);
    chat.headerExtras.append(
      el("button", { type: "button", class: "call-button", i18n: "call.start_audio", on: { click: start("audio") } }),
      el("button", { type: "button", class: "call-button", i18n: "call.start_video", on: { click: start("video") } }));
  }

  roomTitle(roomId) {
    const room = this.app.store.rooms.get(roomId);
    return room ? this.app.store.title(room) : "";
  }

  /** Call everyone in the room (or join the room's running call). */
  async start(roomId, media) {
    if (this.active) {
      this.active.root.querySelector("h2")?.focus();
      return;
    }
    const session = new CallSession(this, { roomId, media, title: this.roomTitle(roomId) });
    this.active = session;
    await session.startCall();
  }

  onRing({ call, from }) {
    if (this.rings.has(call.id) || this.active?.id === call.id) return;
    const name = from.display_name || from.username;
    const group = this.app.store.rooms.get(call.room_id)?.kind === "group";
    const text = group
      ? t("call.incoming_group", { name, room: this.roomTitle(call.room_id) })
      : t(call.media === "audio" ? "call.incoming_audio" : "call.incoming_video", { name });
    const titleId = `ring-title-${call.id}`;
    const accept = el("button", { type: "button", class: "primary", i18n: "call.accept", on: { click: () => this.accept(call, name) } });
    const decline = el("button", { type: "button", class: "danger", i18n: "call.decline", on: { click: () => this.decline(call) } });
    const check = deviceCheck(call.media);
    const notice = el("section", { class: "call-ring", attrs: { role: "alertdialog", "aria-labelledby": titleId, "aria-describedby": `${titleId}-text` } },
      el("h2", { id: titleId, i18n: "call.incoming_title" }),
      el("p", { id: `${titleId}-text`, text }),
      el("div", { class: "row" }, accept, decline, check.button), check.root);
    notice.stopCheck = check.stop;
    this.rings.set(call.id, notice);
    this.region.append(notice);
    this.app.announce(text);
    accept.focus();
  }

  dismissRing(callId) {
    const notice = this.rings.get(callId);
    if (!notice) return;
    this.rings.delete(callId);
    const hadFocus = notice.contains(document.activeElement);
    notice.stopCheck();
    notice.remove();
    if (hadFocus) document.getElementById("main")?.focus();
  }

  async accept(call, name) {
    this.dismissRing(call.id);
    this.active?.hangUp();
    const session = new CallSession(this, { roomId: call.room_id, media: call.media, title: this.roomTitle(call.room_id) || name, call });
    this.active = session;
    await session.answer();
  }

  async decline(call) {
    this.dismissRing(call.id);
    await this.app.conn.call("call:decline", { call_id: call.id }).catch(() => {});
  }

  ended(session) {
    if (this.active === session) this.active = null;
  }
}

/** One call this tab takes part in: local media, the peer connection and the call panel. */
class CallSession {
  constructor(manager, { roomId, media, title, call = null }) {
    this.manager = manager;
    this.app = manager.app;
    this.conn = manager.app.conn;
    this.roomId = roomId;
    this.media = media;
    this.call = call;
    this.iceServers = [];
    this.local = null; // MediaStream of own microphone (+ camera)
    this.pc = null;
    this.peerId = null;
    this.polite = false;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.waiting = []; // signaling that arrived before the peer connection existed
    this.queue = Promise.resolve(); // signaling is applied one message at a time, in arrival order
    this.meter = null;
    this.closed = false;
    this.remoteStream = new MediaStream();
    this.root = this.build(title);
    manager.region.append(this.root);
  }

  get id() {
    return this.call?.id ?? null;
  }

  get me() {
    return this.call?.participants.find((p) => p.user_id === this.app.me.id);
  }

  build(title) {
    this.status = el("p", { class: "call-status", attrs: { role: "status" }, i18n: "call.starting" });
    this.notice = el("p", { class: "call-notice", hidden: true });
    this.remoteVideo = el("video", { class: "remote-video", autoplay: true, playsInline: true, i18nAttrs: { "aria-label": "call.their_video" } });
    // The other person's tile: their name, and in words whether their microphone or camera is off.
    this.peerFlags = el("span", { class: "tile-flags" });
    this.peerCameraOff = el("p", { class: "camera-off-card", hidden: true });
    this.peerName = el("span", { class: "tile-name" });
    this.remoteTile = el("div", { class: "tile remote-tile" }, this.remoteVideo, this.peerCameraOff, this.peerName, this.peerFlags);
    this.chatToggle = el("button", { type: "button", class: "call-chat-toggle", i18n: "call.hide_chat", attrs: { "aria-pressed": "false" }, on: { click: () => this.toggleChat() } });
    this.tiles = el("div", { class: "call-tiles" });
    // In a group (relay) call: one card per other member in the call, named, with their microphone
    // and camera state in words (the relay's video slots change source with the speaker).
    this.roster = el("ul", { class: "call-roster", hidden: true, i18nAttrs: { "aria-label": "call.roster" } });
    this.memberMedia = new Map(); // user id -> {audio, video}, from call:media_state
    this.localVideo = el("video", { class: "local-video", autoplay: true, playsInline: true, muted: true, i18nAttrs: { "aria-label": "call.your_video" } });
    this.qualityText = el("span", { class: "quality-level", i18n: "call.quality_measuring" });
    this.qualityFigures = el("span", { class: "quality-figures" });
    this.quality = el("p", { class: "call-quality quality-unknown" },
      el("span", { class: "quality-bars", attrs: { "aria-hidden": "true" } }, el("span"), el("span"), el("span")),
      this.qualityText, " ", this.qualityFigures);
    this.micButton = el("button", { type: "button", class: "call-mic", i18n: "call.mute", on: { click: () => this.toggle("audio") } });
    this.cameraButton = el("button", { type: "button", class: "call-camera", i18n: "call.camera_off", hidden: this.media !== "video", on: { click: () => this.toggle("video") } });
    this.hangUpButton = el("button", { type: "button", class: "danger call-hangup", i18n: "call.hang_up", on: { click: () => this.hangUp() } });
    return el("section", { class: "call-panel", attrs: { "aria-labelledby": "call-title" } },
      el("h2", { id: "call-title", tabIndex: -1, text: t("call.with", { name: title }) }),
      this.status, this.notice,
      el("div", { class: "call-stage" }, this.remoteTile, this.tiles, this.localVideo), this.roster,
      this.quality,
      el("div", { class: "call-controls" }, this.micButton, this.cameraButton, this.chatToggle, this.hangUpButton));
  }

  setStatus(key, params) {
    this.status.dataset.i18n = key;
    this.status.textContent = t(key, params);
  }

  showNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = !text;
  }

  /** Own camera and microphone; audio only, then nothing, when they cannot be opened. */
  async openMedia() {
    const wanted = [{ audio: true, video: this.media === "video" }, { audio: true, video: false }];
    for (const constraints of wanted) {
      try {
        this.local = await navigator.mediaDevices.getUserMedia(constraints);
        break;
      } catch {
        // Try with less (no camera, or a camera that is busy); say so below if nothing works.
      }
    }
    if (!this.local) this.showNotice(t("call.no_devices"));
    else if (this.media === "video" && !this.local.getVideoTracks().length) this.showNotice(t("call.no_camera"));
    this.localVideo.srcObject = this.local;
    this.localVideo.hidden = !this.local?.getVideoTracks().length;
    this.micButton.hidden = !this.local?.getAudioTracks().length;
    this.cameraButton.hidden = !this.local?.getVideoTracks().length;
  }

  // ---- starting, answering ----

  async startCall() {
    await this.openMedia();
    try {
      const reply = await this.conn.call("call:start", { room_id: this.roomId, media: this.media });
      this.call = reply.call;
      this.iceServers = reply.ice_servers;
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.call.mode === "relay") await this.joinRelay();
    else if (this.call.participants.some((p) => p.user_id !== this.app.me.id && p.state === "joined")) await this.startPeerToPeer();
    else this.setStatus("call.ringing");
  }

  async answer() {
    await this.openMedia();
    try {
      const reply = await this.conn.call("call:accept", { call_id: this.call.id });
      this.call = reply.call;
      this.iceServers = reply.ice_servers;
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.call.mode === "relay") await this.joinRelay();
    else await this.startPeerToPeer();
  }

  onAccepted({ user_id, call }) {
    if (call) this.call = call;
    this.setParticipantState(user_id, "joined");
    if (this.call.mode === "p2p" && !this.pc) this.startPeerToPeer(user_id);
    this.renderRoster();
  }

  onDeclined({ user_id }) {
    const name = this.app.store.memberName(this.roomId, user_id) || t("chat.someone");
    this.showNotice(t("call.declined_by", { name }));
  }

  /** The other person muted or turned their camera off (or back on). */
  onMediaState({ user_id, audio, video }) {
    this.memberMedia.set(user_id, { audio, video });
    if (this.call?.mode === "relay") {
      this.renderRoster();
      return;
    }
    const name = this.app.store.memberName(this.roomId, user_id) || t("chat.someone");
    this.peerName.textContent = name;
    show(this.peerFlags,
      audio ? null : el("span", { class: "tile-flag mic-off", text: t("call.peer_muted", { name }) }),
      video || this.media !== "video" ? null : el("span", { class: "tile-flag camera-off", text: t("call.peer_camera_off", { name }) }));
    this.peerCameraOff.hidden = video || this.media !== "video";
    this.peerCameraOff.textContent = t("call.peer_camera_off", { name });
  }

  /** The group call's member cards: name, and "X's microphone is off" / "X's camera is off". */
  renderRoster() {
    this.roster.hidden = this.call?.mode !== "relay";
    if (this.roster.hidden) return;
    show(this.roster, ...[...this.othersJoined()].map((userId) => {
      const name = this.app.store.memberName(this.roomId, userId) || t("chat.someone");
      const { audio = true, video = true } = this.memberMedia.get(userId) ?? {};
      return el("li", { class: "member-tile", dataset: { userId } },
        el("span", { class: "tile-name", text: name }),
        audio ? null : el("span", { class: "tile-flag mic-off", text: t("call.peer_muted", { name }) }),
        video || this.media !== "video" ? null : el("span", { class: "tile-flag camera-off", text: t("call.peer_camera_off", { name }) }));
    }));
  }

  /** On a phone: the call full screen, or the call above the chat (the composer in view). */
  toggleChat() {
    const full = !document.body.classList.contains("call-full");
    document.body.classList.toggle("call-full", full);
    this.chatToggle.setAttribute("aria-pressed", String(full));
    this.chatToggle.dataset.i18n = full ? "call.show_chat" : "call.hide_chat";
    this.chatToggle.textContent = t(this.chatToggle.dataset.i18n);
  }

  onLeft({ user_id }) {
    this.setParticipantState(user_id, "left");
    this.renderRoster();
    const name = this.app.store.memberName(this.roomId, user_id) || t("chat.someone");
    this.app.announce(t("call.left", { name }));
  }

  // ---- peer to peer ----

  async startPeerToPeer(peerId) {
    this.peerId = peerId ?? this.call.participants.find((p) => p.user_id !== this.app.me.id && p.state === "joined")?.user_id
      ?? this.call.started_by;
    this.polite = Boolean(this.me?.polite);
    this.peerName.textContent = this.app.store.memberName(this.roomId, this.peerId) || t("chat.someone");
    this.setStatus("call.connecting");
    const pc = this.newPeerConnection({ iceServers: this.iceServers });
    pc.onicecandidate = ({ candidate }) => {
      this.conn.call("call:ice", { call_id: this.id, to: this.peerId, candidate: candidate ? candidate.toJSON() : null }).catch(() => {});
    };
    pc.onnegotiationneeded = async () => {
      // Fired while an offer of the other side is being answered: the browser fires it again
      // once the state is stable if anything is still to negotiate.
      if (pc.signalingState !== "stable") return;
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        await this.conn.call("call:offer", { call_id: this.id, to: this.peerId, sdp: pc.localDescription.sdp, type: pc.localDescription.type });
      } catch {
        // The call ended or the peer left while we were offering; call:ended tidies up.
      } finally {
        this.makingOffer = false;
      }
    };
    pc.ontrack = ({ track }) => {
      this.remoteStream.addTrack(track);
      if (this.remoteVideo.srcObject !== this.remoteStream) this.remoteVideo.srcObject = this.remoteStream;
      this.remoteVideo.play().catch(() => {});
    };
    if (this.local) for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
    else for (const kind of ["audio", "video"]) pc.addTransceiver(kind, { direction: "recvonly" });
    for (const [name, data] of this.waiting.splice(0)) this.signal(name, data);
  }

  signal(name, data) {
    if (!this.pc || this.call?.mode === "relay") {
      this.waiting.push([name, data]);
      return;
    }
    this.queue = this.queue.then(() => this.applySignal(name, data)).catch(() => {
      // A description the perfect-negotiation rules made us ignore, or one for a closed call.
    });
  }

  async applySignal(name, data) {
    const pc = this.pc;
    if (name === "call:ice") {
      if (!data.candidate?.candidate) return; // end of candidates: nothing to add
      try {
        await pc.addIceCandidate(data.candidate);
      } catch (error) {
        if (!this.ignoreOffer) throw error;
      }
      return;
    }
    const description = { type: data.type, sdp: data.sdp };
    const collision = description.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      await pc.setLocalDescription();
      await this.conn.call("call:answer", { call_id: this.id, to: this.peerId, sdp: pc.localDescription.sdp });
    }
  }

  // ---- server relay ----

  async joinRelay() {
    this.setStatus("call.connecting");
    this.remoteTile.hidden = true;
    this.renderRoster();
    try {
      const { layout } = await this.conn.call("media:layout");
      const pc = this.newPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
      pc.ontrack = ({ track }) => this.addSlot(track);
      for (const track of [...(this.local?.getAudioTracks() ?? []).slice(0, 1), ...(this.local?.getVideoTracks() ?? []).slice(0, 1)]) {
        pc.addTransceiver(track, { direction: "sendrecv", streams: [this.local] });
      }
      for (let i = 0; i < layout.audio; i++) pc.addTransceiver("audio", { direction: "recvonly" });
      for (let i = 0; i < layout.video; i++) pc.addTransceiver("video", { direction: "recvonly" });
      await pc.setLocalDescription(await pc.createOffer());
      await gatheringComplete(pc);
      const { answer } = await this.conn.call("media:join", { call_id: this.id, sdp: pc.localDescription.sdp, type: "offer" });
      await pc.setRemoteDescription(answer);
    } catch (error) {
      this.fail(error);
    }
  }

  /** A relay slot: video shows as a tile once frames arrive; audio plays unseen. */
  addSlot(track) {
    const stream = new MediaStream([track]);
    if (track.kind === "audio") {
      const audio = el("audio", { autoplay: true, hidden: true });
      audio.srcObject = stream;
      this.tiles.append(audio);
      return;
    }
    const video = el("video", { class: "slot-video", autoplay: true, playsInline: true, muted: true, hidden: true, i18nAttrs: { "aria-label": "call.participant_video" } });
    video.srcObject = stream;
    video.addEventListener("loadeddata", () => { video.hidden = false; });
    this.tiles.append(video);
  }

  // ---- shared ----

  newPeerConnection(config) {
    const pc = new RTCPeerConnection(config);
    this.pc = pc;
    pc.onconnectionstatechange = () => this.onConnectionState(pc);
    this.meter?.stop();
    this.meter = new QualityMeter(pc, {
      expecting: () => ({ expectMedia: this.othersJoined().size > 0, expectVideo: this.expectsVideo() }),
      onChange: (q) => this.showQuality(q),
    });
    return pc;
  }

  onConnectionState(pc) {
    if (pc !== this.pc || this.closed) return;
    const state = pc.connectionState;
    if (state === "connected") this.setStatus("call.connected");
    else if (state === "disconnected") this.setStatus("call.unstable");
    else if (state === "failed" && this.call.mode === "p2p") {
      // Both sides see the direct path fail and both move to the server relay.
      this.meter.stop();
      pc.close();
      this.call.mode = "relay";
      this.joinRelay();
    } else if (state === "failed") this.setStatus("call.failed");
  }

  /** Who else is in the call now (kept from the call's participants and call:accepted/left). */
  othersJoined() {
    return new Set((this.call?.participants ?? []).filter((p) => p.user_id !== this.app.me.id && p.state === "joined").map((p) => p.user_id));
  }

  setParticipantState(userId, state) {
    const participant = this.call?.participants.find((p) => p.user_id === userId);
    if (participant) participant.state = state;
    else this.call?.participants.push({ user_id: userId, state, polite: true });
  }

  expectsVideo() {
    if (this.call?.mode === "relay") return [...this.tiles.querySelectorAll("video")].some((v) => !v.hidden);
    return this.media === "video" && this.remoteStream.getVideoTracks().length > 0;
  }

  showQuality({ level, figures }) {
    const previous = this.quality.dataset.level;
    this.quality.className = `call-quality quality-${level}`;
    this.quality.dataset.level = level;
    this.qualityText.dataset.i18n = `call.quality_${level}`;
    this.qualityText.textContent = t(`call.quality_${level}`);
    const parts = [];
    if (figures.rttMs !== null) parts.push(t("call.figure_rtt", { ms: Math.round(figures.rttMs) }));
    parts.push(t("call.figure_loss", { percent: (figures.loss * 100).toFixed(1) }));
    if (this.expectsVideo()) parts.push(t("call.figure_fps", { fps: Math.round(figures.fps) }));
    this.qualityFigures.textContent = `(${parts.join(" · ")})`;
    if (level === "poor" && previous !== "poor") this.app.announce(t("call.quality_poor"));
  }

  /** Mute/unmute the microphone or turn the camera off/on: the track stays, so no renegotiation. */
  toggle(kind) {
    const tracks = kind === "audio" ? this.local?.getAudioTracks() : this.local?.getVideoTracks();
    if (!tracks?.length) return;
    const enabled = !tracks[0].enabled;
    for (const track of tracks) track.enabled = enabled;
    const button = kind === "audio" ? this.micButton : this.cameraButton;
    const key = kind === "audio" ? (enabled ? "call.mute" : "call.unmute") : (enabled ? "call.camera_off" : "call.camera_on");
    button.dataset.i18n = key;
    button.textContent = t(key);
    button.classList.toggle("off", !enabled);
    this.app.announce(t(kind === "audio" ? (enabled ? "call.mic_on_notice" : "call.mic_off_notice") : (enabled ? "call.camera_on_notice" : "call.camera_off_notice")));
    this.sendMediaState();
  }

  /** Tell the others whether the microphone and camera are on (a muted track looks like a broken one). */
  sendMediaState() {
    if (!this.id) return;
    const on = (tracks) => Boolean(tracks?.length && tracks[0].enabled);
    this.conn.call("call:media_state", { call_id: this.id, audio: on(this.local?.getAudioTracks()), video: on(this.local?.getVideoTracks()) }).catch(() => {});
  }

  /** Cumulative inbound figures (for the end-to-end tests and the browser console). */
  inboundTotals() {
    return this.pc ? readTotals(this.pc) : null;
  }

  async hangUp() {
    if (this.id) await this.conn.call("call:end", { call_id: this.id }).catch(() => {});
    this.finish("hangup", { byMe: true });
  }

  fail(error) {
    if (this.id) this.conn.call("call:end", { call_id: this.id }).catch(() => {});
    this.finish(null);
    this.app.announce(t("call.could_not", { reason: errorText(error) }));
  }

  finish(reason, { byMe = false } = {}) {
    if (this.closed) return;
    if (reason && !byMe) this.app.announce(t(END_REASONS.has(reason) ? `call.ended_${reason}` : "call.ended_hangup"));
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.meter?.stop();
    this.pc?.close();
    for (const track of this.local?.getTracks() ?? []) track.stop();
    document.body.classList.remove("call-full");
    const hadFocus = this.root.contains(document.activeElement);
    this.root.remove();
    this.manager.ended(this);
    if (hadFocus) document.getElementById("main")?.focus();
  }
}

/**
 * "Check my camera and microphone" before answering: a preview of one's own camera and a live
 * microphone level, so nobody joins unsure whether they can be seen or heard.
 */
function deviceCheck(media) {
  let stream = null;
  let frame = 0;
  let audioContext = null;
  const video = el("video", { autoplay: true, playsInline: true, muted: true, hidden: media !== "video", i18nAttrs: { "aria-label": "call.your_video" } });
  const level = el("meter", { min: 0, max: 1, value: 0, i18nAttrs: { "aria-label": "call.mic_level" } });
  const status = el("p", { attrs: { role: "status" } });
  const root = el("div", { class: "device-check", hidden: true }, video, el("label", { class: "row" }, el("span", { i18n: "call.mic_level" }), level), status);
  const stop = () => {
    cancelAnimationFrame(frame);
    audioContext?.close().catch(() => {});
    for (const track of stream?.getTracks() ?? []) track.stop();
    stream = null;
  };
  const button = el("button", {
    type: "button", i18n: "call.check_devices", attrs: { "aria-expanded": "false" },
    on: {
      click: async () => {
        if (!root.hidden) {
          stop();
          root.hidden = true;
          button.setAttribute("aria-expanded", "false");
          return;
        }
        root.hidden = false;
        button.setAttribute("aria-expanded", "true");
        try {
          stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === "video" });
        } catch {
          status.textContent = t("call.no_devices");
          return;
        }
        video.srcObject = stream;
        status.textContent = t("call.devices_ok");
        audioContext = new AudioContext();
        const analyser = audioContext.createAnalyser();
        audioContext.createMediaStreamSource(stream).connect(analyser);
        const samples = new Uint8Array(analyser.fftSize);
        const tick = () => {
          analyser.getByteTimeDomainData(samples);
          level.value = Math.min(1, samples.reduce((peak, s) => Math.max(peak, Math.abs(s - 128)), 0) / 64);
          frame = requestAnimationFrame(tick);
        };
        tick();
      },
    },
  });
  return { root, button, stop };
}

function gatheringComplete(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const timer = setTimeout(resolve, GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
