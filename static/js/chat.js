// The conversation view of one room: messages in seq order, older pages on scroll-up, typing,
// read receipts, presence, edit/delete, and the composer with its outbox. All user text is set
// with textContent (see dom.js).
import { el, formatTime, show } from "./dom.js";
import { currentLanguage, onLanguageChange, t } from "./i18n.js";
import { GroupPanel } from "./groupconsole.js";
import { callRecordText } from "./callrecord.js";
import { safetyCoverage } from "./api.js";

// The reactions offered (the server accepts exactly these: server/chat/reactions.py).
export const REACTIONS = ["👍", "❤️", "🙏", "😊", "😢", "💪"];

const NEAR_TOP_PX = 80;
const NEAR_BOTTOM_PX = 60;
const TYPING_RENEW_MS = 3000;
const TYPING_IDLE_MS = 3000;
const MODERATOR_ROLES = new Set(["leader", "co-leader"]);
// A member in this room role was let in by a claimed crisis alert: everyone sees them labelled.
export const RESPONDER_ROOM_ROLE = "crisis_responder";

export class ChatView {
  /**
   * @param {object} app  {conn, store, outbox, me, announce(text), onBack(), decorators}
   *   decorators: functions (message, node, view) => void that features (translation) use to add
   *   to a rendered message.
   */
  constructor(app, roomId) {
    this.app = app;
    this.store = app.store;
    this.roomId = roomId;
    this.nodes = new Map(); // message id -> <li>
    this.abort = new AbortController();
    this.loadingOlder = false;
    this.typingSentAt = 0;
    this.typingIdle = null;
    this.root = this.build();
  }

  get room() {
    return this.store.rooms.get(this.roomId);
  }

  get timeline() {
    return this.store.timelines.get(this.roomId);
  }

  get myRoomRole() {
    return this.store.member(this.roomId, this.app.me.id)?.room_role ?? "member";
  }

  build() {
    this.titleNode = el("h2", { class: "chat-title", id: "chat-title", text: this.store.title(this.room) });
    this.membersNode = el("ul", { class: "chat-members", attrs: { "aria-label": t("chat.members") } });
    this.olderButton = el("button", { type: "button", class: "link-button older", i18n: "chat.load_older", hidden: true, on: { click: () => this.loadOlder() } });
    this.list = el("ol", { class: "messages", attrs: { "aria-labelledby": "chat-title" } });
    this.outboxList = el("ol", { class: "messages outbox", attrs: { "aria-label": t("chat.outbox") } });
    this.emptyNode = el("p", { class: "empty", i18n: "chat.empty", hidden: true });
    this.safetyNode = el("p", { class: "safety-note", id: "safety-note" });
    // The consent note scrolls with the messages: on a small screen it must not eat the view.
    this.scroller = el("div", { class: "messages-scroll", tabIndex: 0, attrs: { "aria-label": t("chat.messages") } },
      this.safetyNode, this.olderButton, this.emptyNode, this.list, this.outboxList);
    this.jumpButton = el("button", { type: "button", class: "jump", i18n: "chat.new_below", hidden: true, on: { click: () => this.scrollToBottom() } });
    this.typingNode = el("p", { class: "typing", attrs: { "aria-live": "polite" } });
    this.responderNode = el("p", { class: "responder-note", attrs: { role: "status" }, hidden: true });
    this.input = el("textarea", {
      id: "composer-input", rows: 2, maxLength: 4000, required: true, attrs: { "aria-describedby": "composer-hint" },
      i18nAttrs: { placeholder: "chat.placeholder" },
      on: { input: () => this.onInput(), keydown: (e) => this.onComposerKey(e) },
    });
    this.composerError = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.replyTo = null;
    this.replyingText = el("span");
    this.replying = el("div", { class: "replying", hidden: true }, this.replyingText,
      el("button", { type: "button", class: "small", i18n: "chat.cancel_reply", on: { click: () => this.setReplyTo(null) } }));
    this.composer = el("form", { class: "composer", on: { submit: (e) => this.onSubmit(e) } },
      this.replying,
      el("label", { htmlFor: "composer-input", class: "visually-hidden", i18n: "chat.message_label" }),
      el("span", { id: "composer-hint", class: "visually-hidden", i18n: "chat.enter_hint" }),
      this.input,
      el("button", { type: "submit", class: "primary", i18n: "chat.send" }),
      this.composerError);
    this.headerExtras = el("div", { class: "chat-actions" });
    const back = el("button", { type: "button", class: "back", i18n: "chat.back", on: { click: () => this.app.onBack() } });
    const root = el("section", { class: "chat", attrs: { "aria-labelledby": "chat-title" } },
      el("header", { class: "chat-header" }, back, el("div", { class: "chat-heading" }, this.titleNode, this.membersNode), this.headerExtras),
      this.responderNode, this.scroller, this.jumpButton, this.typingNode, this.composer);
    this.scroller.addEventListener("scroll", () => this.onScroll());
    return root;
  }

  /** Fetch the newest page, render it and start following the room. */
  async start() {
    const { signal } = this.abort;
    const s = this.store;
    s.addEventListener("timeline", (e) => e.detail.roomId === this.roomId && this.onTimeline(e.detail), { signal });
    s.addEventListener("presence", (e) => e.detail.roomId === this.roomId && this.renderMembers(), { signal });
    s.addEventListener("rooms", () => this.onRoomChanged(), { signal });
    s.addEventListener("typing", (e) => e.detail.roomId === this.roomId && this.renderTyping(), { signal });
    s.addEventListener("receipts", (e) => e.detail.roomId === this.roomId && this.renderReceipts(), { signal });
    s.addEventListener("incoming", (e) => e.detail.roomId === this.roomId && this.announce(e.detail.message), { signal });
    s.addEventListener("responder_joined", (e) => e.detail.roomId === this.roomId && this.renderResponders(), { signal });
    this.app.outbox.addEventListener("change", (e) => e.detail.roomId === this.roomId && this.renderOutbox(), { signal });
    document.addEventListener("visibilitychange", () => this.markRead(), { signal });
    onLanguageChange(() => !signal.aborted && (this.rerenderAll(), this.renderSafety(), this.renderResponders()));
    this.renderMembers();
    this.renderResponders();
    this.renderSafety();
    this.renderOutbox();
    if (this.room?.kind === "group") this.group = new GroupPanel(this);
    await this.store.open(this.roomId);
    this.rerenderAll();
    this.scrollToBottom();
  }

  destroy() {
    this.abort.abort();
    this.group?.destroy();
    this.stopTyping();
  }

  focusComposer() {
    this.input.focus();
  }

  // ---- rendering ----

  rerenderAll() {
    const timeline = this.timeline;
    if (!timeline?.loaded) return;
    this.nodes.clear();
    show(this.list, ...timeline.messages.map((m) => this.renderMessage(m)));
    this.renderDividers();
    this.afterRender();
    this.renderTyping();
    this.renderOutbox();
  }

  onTimeline({ added, changed, older }) {
    const wasNearBottom = this.isNearBottom();
    const heightBefore = this.scroller.scrollHeight;
    for (const message of changed) {
      const node = this.nodes.get(message.id);
      if (node) node.replaceWith(this.renderMessage(message));
    }
    // Newest first, so the node each message goes before is already in place.
    for (const message of [...added].reverse()) {
      const node = this.renderMessage(message);
      const next = this.timeline.nextAfter(message.seq);
      const before = next ? this.nodes.get(next.id) : null;
      this.list.insertBefore(node, before && before.parentNode === this.list ? before : null);
    }
    this.renderDividers();
    this.afterRender();
    if (older) this.scroller.scrollTop += this.scroller.scrollHeight - heightBefore;
    else if (added.length && (wasNearBottom || added.some((m) => m.sender_id === this.app.me.id))) this.scrollToBottom();
    else if (added.length) this.jumpButton.hidden = false;
    this.markRead();
  }

  /** A date line before the first message of each day, in the reader's language and zone. */
  renderDividers() {
    for (const old of this.list.querySelectorAll(":scope > .date-divider")) old.remove();
    let previousDay = "";
    for (const node of [...this.list.children]) {
      const when = node.querySelector("time")?.dateTime;
      if (!when) continue;
      const day = new Date(when).toDateString();
      if (day !== previousDay) {
        node.before(el("li", { class: "date-divider", text: dayLabel(when) }));
        previousDay = day;
      }
    }
  }

  afterRender() {
    const timeline = this.timeline;
    this.olderButton.hidden = !timeline?.hasMoreBefore;
    this.emptyNode.hidden = Boolean(timeline?.messages.length) || this.app.outbox.forRoom(this.roomId).length > 0;
    this.renderReceipts();
  }

  /** The room's consent text: whether its messages are scanned for risk, and in which languages. */
  async renderSafety() {
    if (this.room?.private) {
      // Nothing is scanned on the server here; each member's device checks its own messages.
      this.safetyNode.textContent = t(this.room.safety_monitoring ? "private.safety_on" : "private.safety_off");
      return;
    }
    if (!this.room?.safety_monitoring) {
      this.safetyNode.textContent = t("chat.safety_off");
      return;
    }
    const coverage = await safetyCoverage();
    if (!coverage) {
      this.safetyNode.textContent = t("chat.safety_on");
      return;
    }
    const names = new Intl.DisplayNames([currentLanguage()], { type: "language" });
    const list = (codes) => new Intl.ListFormat(currentLanguage(), { type: "conjunction" }).format(codes.map((c) => names.of(c) ?? c));
    let text = t("chat.safety_covers", { languages: list([...coverage.native, ...coverage.via_translation]) });
    if (coverage.not_covered.length) text += " " + t("chat.safety_not_covered", { languages: list(coverage.not_covered) });
    this.safetyNode.textContent = text;
  }

  renderMessage(message) {
    const mine = message.sender_id === this.app.me.id;
    const author = mine ? t("chat.you") : this.store.memberName(this.roomId, message.sender_id) || t("chat.someone");
    const time = el("time", { dateTime: message.created_at, text: formatTime(message.created_at, currentLanguage()) });
    const meta = el("div", { class: "msg-meta" }, el("span", { class: "msg-author", text: author }), " ", time);
    if (!mine && this.store.member(this.roomId, message.sender_id)?.room_role === RESPONDER_ROOM_ROLE) {
      meta.append(" ", el("span", { class: "badge professional", i18n: `room_role.${RESPONDER_ROOM_ROLE}` }));
    }
    if (message.edited_at && !message.deleted) meta.append(" ", el("span", { class: "msg-edited", i18n: "chat.edited" }));
    if (message.safety === "unscanned" || message.safety === "review") {
      meta.append(" ", el("span", { class: `msg-safety ${message.safety}`, i18n: `chat.safety_${message.safety}` }));
    }
    const body = message.deleted
      ? el("p", { class: "msg-body deleted", i18n: "chat.deleted" })
      : message.undecryptable
        ? el("p", { class: "msg-body undecryptable", i18n: "private.cannot_decrypt" })
      : message.kind === "call"
        ? el("p", { class: "msg-body call-record", text: callRecordText(message, { mine, callerName: author }) })
        : el("p", { class: "msg-body", text: message.body, attrs: { lang: message.language || null, dir: "auto" } });
    const node = el("li", { class: `msg${mine ? " mine" : ""}${message.kind && message.kind !== "text" ? ` kind-${message.kind}` : ""}`, dataset: { id: message.id, seq: message.seq } },
      meta, message.reply_to ? this.quote(message.reply_to) : null, body, this.reactions(message));
    for (const decorate of this.app.decorators || []) decorate(message, node, this);
    if (!message.deleted) {
      const actions = this.messageActions(message, mine);
      if (actions) node.append(actions);
    }
    this.nodes.set(message.id, node);
    return node;
  }

  /** The answered message, quoted in one line (its current words: an edit or delete shows). */
  quote(messageId) {
    const original = this.timeline?.byId.get(messageId);
    const name = original ? (original.sender_id === this.app.me.id ? t("chat.you") : this.store.memberName(this.roomId, original.sender_id) || t("chat.someone")) : "";
    const text = !original ? t("chat.reply_earlier") : original.deleted ? t("chat.deleted") : `${name}: ${original.body ?? ""}`;
    return el("p", { class: "msg-reply", text: t("chat.in_reply_to", { text }) });
  }

  /** The reactions under a message: one button per emoji with its count, pressed if mine. */
  reactions(message) {
    const entries = Object.entries(message.reactions || {}).filter(([, who]) => who.length);
    if (!entries.length) return null;
    return el("div", { class: "msg-reactions" }, ...entries.map(([emoji, who]) => {
      const mine = who.includes(this.app.me.id);
      return el("button", {
        type: "button", class: "reaction", text: `${emoji} ${who.length}`,
        attrs: { "aria-pressed": String(mine), "aria-label": t("chat.reaction_count", { emoji, count: who.length }) },
        on: { click: () => this.react(message, emoji) },
      });
    }));
  }

  async react(message, emoji) {
    try {
      const { reaction } = await this.app.conn.call("reaction:toggle", { room_id: this.roomId, message_id: message.id, emoji });
      const changed = this.timeline?.setReactions(message.id, reaction.reactions);
      if (changed) this.onTimeline({ added: [], changed: [changed] });
    } catch (err) {
      this.composerError.textContent = errorText(err);
    }
  }

  setReplyTo(message) {
    this.replyTo = message;
    this.replying.hidden = !message;
    if (message) {
      const name = message.sender_id === this.app.me.id ? t("chat.you") : this.store.memberName(this.roomId, message.sender_id) || t("chat.someone");
      this.replyingText.textContent = t("chat.replying_to", { name, text: message.body ?? "" });
    }
    this.input.focus();
  }

  messageActions(message, mine) {
    const canDelete = mine || MODERATOR_ROLES.has(this.myRoomRole);
    const actions = el("div", { class: "msg-actions" });
    if ((message.kind ?? "text") !== "system") {
      actions.append(el("button", { type: "button", class: "link-button", i18n: "chat.reply", on: { click: () => this.setReplyTo(message) } }));
      const palette = el("div", { class: "reaction-palette", hidden: true }, ...REACTIONS.map((emoji) => el("button", {
        type: "button", class: "reaction", text: emoji, attrs: { "aria-label": t("chat.react_with", { emoji }) },
        on: { click: () => { palette.hidden = true; this.react(message, emoji); } },
      })));
      const open = el("button", {
        type: "button", class: "link-button", i18n: "chat.react", attrs: { "aria-expanded": "false" },
        on: { click: () => { palette.hidden = !palette.hidden; open.setAttribute("aria-expanded", String(!palette.hidden)); } },
      });
      actions.append(open, palette);
    }
    // Only words can be edited: a shared file's message describes the stored file.
    // A private room's message stays as it was sealed (the server cannot check a new envelope).
    if (mine && (message.kind ?? "text") === "text" && !message.sealed) actions.append(el("button", { type: "button", class: "link-button", i18n: "chat.edit", on: { click: () => this.beginEdit(message) } }));
    if (canDelete) actions.append(el("button", { type: "button", class: "link-button", i18n: "chat.delete", on: { click: () => this.confirmDelete(message, actions) } }));
    return actions;
  }

  beginEdit(message) {
    const node = this.nodes.get(message.id);
    const body = node?.querySelector(".msg-body");
    if (!body) return;
    const input = el("textarea", { class: "edit-input", value: message.body, rows: 2, maxLength: 4000, i18nAttrs: { "aria-label": "chat.edit_label" } });
    const error = el("p", { class: "form-error", attrs: { role: "alert" } });
    const cancel = () => {
      form.replaceWith(body);
      node.querySelector(".msg-actions button")?.focus();
    };
    const form = el("form", {
      class: "edit-form",
      on: {
        submit: async (e) => {
          e.preventDefault();
          const text = input.value;
          if (!text.trim() || text === message.body) return cancel();
          try {
            const { message: updated } = await this.app.conn.call("message:edit", { room_id: this.roomId, message_id: message.id, body: text });
            this.store.mergeInto(this.roomId, [updated]);
            this.nodes.get(message.id)?.querySelector(".msg-actions button")?.focus();
          } catch (err) {
            error.textContent = errorText(err);
          }
        },
        keydown: (e) => {
          if (e.key === "Escape") cancel();
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            form.requestSubmit();
          }
        },
      },
    }, input,
    el("div", { class: "row" },
      el("button", { type: "submit", class: "primary small", i18n: "chat.save" }),
      el("button", { type: "button", class: "small", i18n: "chat.cancel", on: { click: cancel } })),
    error);
    body.replaceWith(form);
    input.focus();
  }

  confirmDelete(message, actions) {
    const original = [...actions.childNodes];
    const no = el("button", { type: "button", class: "small", i18n: "chat.cancel", on: { click: () => { show(actions, ...original); original.at(-1).focus(); } } });
    const yes = el("button", {
      type: "button", class: "small danger", i18n: "chat.confirm_delete",
      on: {
        click: async () => {
          try {
            await this.app.conn.call("message:delete", { room_id: this.roomId, message_id: message.id });
            const changed = this.timeline.markDeleted(message.id);
            if (changed) this.onTimeline({ added: [], changed: [changed] });
            this.input.focus();
          } catch (err) {
            show(actions, el("span", { class: "form-error", text: errorText(err) }), no);
          }
        },
      },
    });
    show(actions, el("span", { i18n: "chat.delete_question" }), " ", yes, " ", no);
    no.focus();
  }

  renderMembers() {
    const room = this.room;
    if (!room) return;
    this.titleNode.textContent = this.store.title(room);
    show(this.membersNode, ...room.members.filter((m) => m.id !== this.app.me.id).map((m) => {
      const online = this.store.isOnline(this.roomId, m.id);
      return el("li", { class: `member${online ? " online" : ""}`, dataset: { userId: m.id } },
        el("span", { class: "dot", attrs: { "aria-hidden": "true" } }),
        el("span", { text: m.display_name || m.username }),
        el("span", { class: "visually-hidden presence-label", i18n: online ? "presence.online" : "presence.offline" }),
        m.room_role !== "member" ? el("span", { class: m.room_role === RESPONDER_ROOM_ROLE ? "badge professional" : "badge", text: t(`room_role.${m.room_role}`) }) : null);
    }));
  }

  /**
   * Who is here as a crisis responder, said in words above the messages (not only as a badge):
   * "has joined" when it just happened, "is a crisis responder" when opening the room later.
   */
  renderResponders() {
    const justJoined = this.store.joinedResponders.get(this.roomId);
    const responders = (this.room?.members || []).filter((m) => m.room_role === RESPONDER_ROOM_ROLE && m.id !== this.app.me.id);
    const names = responders.map((m) => m.display_name || m.username).join(", ");
    this.responderNode.hidden = !responders.length;
    if (!responders.length) return;
    this.responderNode.textContent = justJoined && responders.some((m) => m.id === justJoined.id)
      ? t("chat.responder_joined", { name: justJoined.display_name })
      : t("chat.responder_present", { name: names });
  }

  onRoomChanged() {
    if (!this.room) return;
    this.renderMembers();
    this.renderResponders();
    this.renderReceipts();
    this.renderSafety();
  }

  renderTyping() {
    const names = this.store.typingNames(this.roomId);
    this.typingNode.textContent = names.length === 0 ? "" : names.length === 1 ? t("chat.typing_one", { name: names[0] }) : t("chat.typing_many", { names: names.join(", ") });
  }

  /** "Seen" under my newest message, once the others' read positions reach it. */
  renderReceipts() {
    for (const old of this.list.querySelectorAll(".msg-receipt")) old.remove();
    const timeline = this.timeline;
    const room = this.room;
    if (!timeline || !room) return;
    const mine = [...timeline.messages].reverse().find((m) => m.sender_id === this.app.me.id && !m.deleted);
    if (!mine) return;
    const others = room.members.filter((m) => m.id !== this.app.me.id);
    const readers = others.filter((m) => m.last_read_seq >= mine.seq);
    if (!readers.length) return;
    const text = room.kind === "direct" || readers.length === others.length ? t("chat.seen") : t("chat.seen_by", { count: readers.length });
    this.nodes.get(mine.id)?.append(el("p", { class: "msg-receipt", text }));
  }

  renderOutbox() {
    const items = this.app.outbox.forRoom(this.roomId);
    show(this.outboxList, ...items.map((item) => {
      const status = item.state === "sending" ? t("outbox.sending") : item.state === "waiting" ? t("outbox.waiting") : `${t("outbox.failed")} ${errorText(item.error)}`;
      const node = el("li", { class: `msg mine pending ${item.state}` },
        el("div", { class: "msg-meta" }, el("span", { class: "msg-author", i18n: "chat.you" })),
        el("p", { class: "msg-body", text: item.body, attrs: { dir: "auto" } }),
        el("p", { class: "msg-status", text: status }));
      if (item.state === "failed") {
        node.append(el("div", { class: "msg-actions" },
          item.retryable ? el("button", { type: "button", class: "link-button", i18n: "outbox.retry", on: { click: () => this.app.outbox.retry(item.clientId) } }) : null,
          el("button", { type: "button", class: "link-button", i18n: "outbox.discard", on: { click: () => this.app.outbox.discard(item.clientId) } })));
      }
      return node;
    }));
    this.emptyNode.hidden = Boolean(this.timeline?.messages.length) || items.length > 0;
    if (items.length) this.scrollToBottom();
  }

  announce(message) {
    if (message.deleted) return;
    const name = this.store.memberName(this.roomId, message.sender_id) || t("chat.someone");
    this.app.announce(t("chat.announce", { name, body: this.app.messageText?.(message) ?? message.body }));
  }

  // ---- scrolling, paging, reading ----

  isNearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.jumpButton.hidden = true;
    this.markRead();
  }

  onScroll() {
    if (this.scroller.scrollTop < NEAR_TOP_PX) this.loadOlder();
    if (this.isNearBottom()) {
      this.jumpButton.hidden = true;
      this.markRead();
    }
  }

  async loadOlder() {
    if (this.loadingOlder || !this.timeline?.hasMoreBefore) return;
    this.loadingOlder = true;
    this.olderButton.disabled = true;
    try {
      await this.store.loadOlder(this.roomId);
    } catch {
      // Offline: the button stays, and scrolling up again retries.
    } finally {
      this.loadingOlder = false;
      this.olderButton.disabled = false;
    }
  }

  markRead() {
    const timeline = this.timeline;
    if (!timeline?.messages.length || document.visibilityState !== "visible" || !this.isNearBottom()) return;
    if (!this.root.isConnected) return;
    this.store.markRead(this.roomId, timeline.lastSeq).catch(() => {});
  }

  // ---- composing ----

  onComposerKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.composer.requestSubmit();
    }
  }

  onInput() {
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_RENEW_MS && this.input.value.trim()) {
      this.typingSentAt = now;
      this.app.conn.call("typing:start", { room_id: this.roomId }).catch(() => {});
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingIdle);
    if (!this.typingSentAt) return;
    this.typingSentAt = 0;
    this.app.conn.call("typing:stop", { room_id: this.roomId }).catch(() => {});
  }

  async onSubmit(event) {
    event.preventDefault();
    const body = this.input.value;
    if (!body.trim()) return;
    this.input.value = "";
    this.composerError.textContent = "";
    this.stopTyping();
    const replyTo = this.replyTo?.id ?? "";
    this.setReplyTo(null);
    await this.app.outbox.send(this.roomId, body, this.app.messageLanguage?.() ?? currentLanguage(), replyTo);
    this.app.notifier?.askOnce();
  }
}

/** "Today", "Yesterday", or the date, in the reader's language. */
function dayLabel(iso) {
  const date = new Date(iso);
  const days = Math.round((new Date(new Date().toDateString()) - new Date(date.toDateString())) / 86400000);
  if (days === 0 || days === 1) {
    const word = new Intl.RelativeTimeFormat(currentLanguage(), { numeric: "auto" }).format(-days, "day");
    return word.charAt(0).toLocaleUpperCase(currentLanguage()) + word.slice(1);
  }
  return new Intl.DateTimeFormat(currentLanguage(), { weekday: "long", day: "numeric", month: "long", year: "numeric" }).format(date);
}

/** A person-readable reason for a failed action, in the UI language when we know the code. */
export function errorText(error) {
  if (!error) return "";
  const key = `error.${error.code}`;
  const translated = t(key);
  if (translated !== key) return translated;
  return error.message || t("error.generic");
}
