// Opening a group and joining one (docs/protocol.md, "Groups"). Nobody is added to a group
// without saying yes: a leader opens the group and invites people by username (group:create,
// group:invite); each invitee sees the invitation (group:invited) and accepts or declines it.
import { el, field, show } from "./dom.js";
import { t } from "./i18n.js";
import { errorText } from "./chat.js";

export const GROUP_CREATOR_ROLES = new Set(["leader", "admin"]);
const MAX_INVITEES = 30;

/** Usernames typed one per line or separated by commas or spaces. */
export function parseUsernames(text) {
  return [...new Set(text.split(/[\s,;]+/).map((name) => name.trim().replace(/^@/, "").toLowerCase()).filter(Boolean))];
}

/** Resolve usernames to user ids; rejects naming the first unknown username. */
async function resolveUsernames(conn, usernames) {
  const ids = [];
  for (const username of usernames) {
    try {
      ids.push((await conn.call("user:find", { username })).user.id);
    } catch (error) {
      if (error.code === "not_found") throw Object.assign(new Error(username), { code: "unknown_username", username });
      throw error;
    }
  }
  return ids;
}

function failureText(error) {
  return error.code === "unknown_username" ? t("groups.unknown_username", { username: error.username }) : errorText(error);
}

/** The "New group" form, for people whose account may lead groups. */
export class GroupCreator {
  /** @param {object} app {conn, store, onOpen(roomId)} */
  constructor(app) {
    this.app = app;
    this.title = el("input", { type: "text", name: "group-title", required: true, maxLength: 200, autocomplete: "off" });
    this.invitees = el("textarea", { name: "group-invitees", rows: 3, autocapitalize: "none", spellcheck: false, attrs: { "aria-describedby": "group-invitees-hint" } });
    this.status = el("p", { class: "form-status", attrs: { role: "status" } });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.private = el("input", { type: "checkbox", id: "new-group-private", name: "private" });
    this.root = el("form", { class: "new-group", attrs: { "aria-labelledby": "new-group-title" }, on: { submit: (e) => this.create(e) } },
      el("h3", { id: "new-group-title", i18n: "groups.new" }),
      field("groups.title", this.title),
      field("groups.invite", this.invitees),
      el("p", { class: "hint", id: "group-invitees-hint", i18n: "groups.invite_hint" }),
      el("div", { class: "checkbox-field" }, this.private, el("label", { htmlFor: "new-group-private", i18n: "private.create_label" })),
      el("button", { type: "submit", i18n: "groups.create" }),
      this.status, this.error);
  }

  async create(event) {
    event.preventDefault();
    this.status.textContent = "";
    this.error.textContent = "";
    const usernames = parseUsernames(this.invitees.value).slice(0, MAX_INVITEES);
    try {
      const inviteIds = await resolveUsernames(this.app.conn, usernames);
      const { room } = await this.app.conn.call("group:create", { title: this.title.value.trim(), invite_ids: inviteIds, private: this.private.checked });
      this.app.store.upsertRoom(room);
      await this.app.store.join(room.id);
      this.title.value = "";
      this.invitees.value = "";
      this.private.checked = false;
      this.status.textContent = t("groups.created", { count: inviteIds.length });
      this.app.onOpen(room.id);
    } catch (error) {
      this.error.textContent = failureText(error);
    }
  }
}

/** "Invite someone" for a group's leader and co-leaders, shown in the group console. */
export function inviteForm(app, roomId) {
  const input = el("input", { type: "text", autocapitalize: "none", spellcheck: false, autocomplete: "off", required: true });
  const status = el("p", { class: "form-status", attrs: { role: "status" } });
  const error = el("p", { class: "form-error", attrs: { role: "alert" } });
  return el("form", {
    class: "invite-form",
    on: {
      submit: async (event) => {
        event.preventDefault();
        status.textContent = "";
        error.textContent = "";
        const [username] = parseUsernames(input.value);
        if (!username) return;
        try {
          const [userId] = await resolveUsernames(app.conn, [username]);
          await app.conn.call("group:invite", { room_id: roomId, user_id: userId });
          input.value = "";
          status.textContent = t("groups.invited", { username });
        } catch (err) {
          error.textContent = failureText(err);
        }
      },
    },
  }, field("groups.invite_one", input), el("button", { type: "submit", class: "small", i18n: "groups.send_invite" }), status, error);
}

/** Invitations waiting for this person's answer, as they arrive. */
export class GroupInvitations {
  /** @param {object} app {conn, store, announce, onOpen(roomId)} */
  constructor(app) {
    this.app = app;
    this.pending = new Map(); // room id -> group:invited event
    this.list = el("ul", { class: "invitations" });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.root = el("section", { class: "invitations-box", attrs: { "aria-labelledby": "invitations-title" }, hidden: true },
      el("h3", { id: "invitations-title", i18n: "groups.invitations" }), this.list, this.error);
    app.conn.on("group:invited", (invite) => {
      this.pending.set(invite.room_id, invite);
      this.render();
      app.announce(t("groups.invited_you", { title: invite.title }));
    });
    app.conn.on("room:added", ({ room }) => {
      if (this.pending.delete(room.id)) this.render();
    });
    // Invitations sent while this tab was closed or offline: ask on start and after every reconnect.
    this.refresh();
    app.conn.addEventListener("resync", () => this.refresh());
  }

  async refresh() {
    try {
      const { invitations } = await this.app.conn.call("group:invitations");
      for (const invite of invitations) this.pending.set(invite.room_id, invite);
      this.render();
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  render() {
    this.root.hidden = this.pending.size === 0;
    show(this.list, ...[...this.pending.values()].map((invite) => el("li", { class: "invitation", dataset: { roomId: invite.room_id } },
      el("p", { text: t("groups.invitation", { title: invite.title }) }),
      el("div", { class: "row" },
        el("button", { type: "button", class: "primary small", text: t("groups.accept_name", { title: invite.title }), on: { click: () => this.answer(invite, true) } }),
        el("button", { type: "button", class: "small", text: t("groups.decline_name", { title: invite.title }), on: { click: () => this.answer(invite, false) } })))));
  }

  async answer(invite, yes) {
    this.error.textContent = "";
    try {
      await this.app.conn.call(yes ? "group:accept" : "group:decline", { room_id: invite.room_id });
      this.pending.delete(invite.room_id);
      this.render();
      if (yes) {
        // room:added may come just before or after the ack: join from here too, then open the room.
        if (!this.app.store.rooms.has(invite.room_id)) {
          const { room } = await this.app.conn.call("room:join", { room_id: invite.room_id });
          this.app.store.upsertRoom(room);
        }
        this.app.onOpen(invite.room_id);
      }
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}
