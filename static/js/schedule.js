// Sessions: upcoming sessions in the reader's local time with a join button inside the join
// window, booking a mentor's free slot, the availability editor, and the calendar feed link.
import { el, field, formatDateTime, show } from "./dom.js";
import { currentLanguage, onLanguageChange, t } from "./i18n.js";
import { errorText } from "./chat.js";

const JOIN_WINDOW_MS = 10 * 60 * 1000; // the server's join_window_seconds default (600 s)
const REFRESH_MS = 30000;
const HOST_ROLES = new Set(["mentor", "leader", "professional", "admin"]);
const SESSION_EVENTS = ["session:booked", "session:scheduled", "session:cancelled", "session:rescheduled", "session:status"];
const SLOTS_PER_PAGE = 12;
const SLOT_DAYS = 7;
const SLOT_HORIZON_DAYS = 28; // how far ahead "Later times" goes

/** The reader's time zone, named in their language ("Central European Time (Europe/Madrid)"). */
export function zoneName() {
  const id = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const part = new Intl.DateTimeFormat(currentLanguage(), { timeZoneName: "longGeneric" }).formatToParts(new Date()).find((p) => p.type === "timeZoneName");
  return part && part.value !== id ? `${part.value} (${id})` : id;
}

export class ScheduleView {
  constructor(app) {
    this.app = app;
    this.sessions = [];
    this.upcoming = el("ol", { class: "sessions" });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    // What the other side did (cancelled, moved), in the words the server wrote for this reader.
    this.news = el("p", { class: "notice", attrs: { role: "status" } });
    this.zoneNote = el("p", { class: "zone-note" });
    this.host = HOST_ROLES.has(app.me.role);
    this.root = el("section", { class: "schedule", attrs: { "aria-labelledby": "schedule-title" } },
      el("h2", { id: "schedule-title", i18n: "schedule.title" }), this.zoneNote, this.error, this.news,
      el("h3", { i18n: "schedule.upcoming" }), this.upcoming,
      // A mentor offers times; a mentee books them: each sees the form of their side.
      this.host ? this.availabilityEditor() : this.bookingForm(),
      this.feedLink());
    for (const event of SESSION_EVENTS) {
      app.conn.on(event, (payload) => {
        if (payload?.notice && payload.by !== app.me.id) this.news.textContent = payload.notice;
        this.load();
      });
    }
    app.conn.addEventListener("resync", () => this.load());
    // The other person's name comes from the room's member list, which may arrive after the sessions.
    this.onRooms = () => this.render();
    app.store.addEventListener("rooms", this.onRooms);
    this.timer = setInterval(() => this.render(), REFRESH_MS);
    onLanguageChange(() => this.render());
    this.load();
  }

  destroy() {
    clearInterval(this.timer);
    this.app.store.removeEventListener("rooms", this.onRooms);
  }

  async load() {
    try {
      this.sessions = (await this.app.conn.call("session:list", {})).sessions;
      this.render();
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  otherName(session) {
    const otherId = session.host_id === this.app.me.id ? session.mentee_id : session.host_id;
    return otherId ? this.app.store.memberName(session.room_id, otherId) : "";
  }

  render() {
    this.zoneNote.textContent = t("schedule.zone", { zone: zoneName() });
    this.renderBooked?.();
    const now = Date.now();
    const live = this.sessions.filter((s) => s.status !== "cancelled" && Date.parse(s.ends_at) > now);
    // A move picker or cancel question the reader has open survives a refresh of the list.
    const kept = new Map([...this.upcoming.querySelectorAll(".move-slots, .session-confirm")]
      .map((box) => [box.closest("li").dataset.sessionId, box]));
    show(this.upcoming, ...(live.length ? live.map((s) => {
      const open = now >= Date.parse(s.starts_at) - JOIN_WINDOW_MS;
      const who = this.otherName(s);
      return el("li", { class: "session-item", dataset: { sessionId: s.id } },
        el("span", { class: "session-when" }, el("time", { dateTime: s.starts_at, text: formatDateTime(s.starts_at, currentLanguage()) })),
        el("span", { class: "session-title", text: s.title || (who ? t("schedule.with", { name: who }) : t(`schedule.kind_${s.kind}`)) }),
        open ? el("button", { type: "button", class: "primary small", i18n: "schedule.join", on: { click: () => this.join(s) } })
          : el("span", { class: "hint", text: t("schedule.opens", { time: formatDateTime(new Date(Date.parse(s.starts_at) - JOIN_WINDOW_MS).toISOString(), currentLanguage()) }) }),
        this.changeable(s) ? el("span", { class: "session-actions" },
          el("button", { type: "button", class: "small", text: t("schedule.move_named", { name: who || t(`schedule.kind_${s.kind}`) }), on: { click: (e) => this.beginMove(s, e.currentTarget.closest("li")) } }),
          el("button", { type: "button", class: "small danger", text: t("schedule.cancel_named", { name: who || t(`schedule.kind_${s.kind}`) }), on: { click: (e) => this.confirmCancel(s, e.currentTarget.closest("li")) } })) : null,
        kept.get(String(s.id)) ?? null);
    }) : [el("li", { class: "empty", i18n: "schedule.none" })]));
  }

  /** One-to-one sessions can be moved or cancelled by either side; a group's by its host. */
  changeable(session) {
    return session.kind !== "group" || session.host_id === this.app.me.id;
  }

  confirmCancel(session, item) {
    const box = el("div", { class: "row session-confirm" },
      el("span", { i18n: "schedule.cancel_question" }),
      el("button", {
        type: "button", class: "small danger", i18n: "schedule.cancel_yes",
        on: {
          click: async () => {
            try {
              await this.app.conn.call("session:cancel", { session_id: session.id });
              this.news.textContent = t("schedule.cancelled");
              await this.load();
            } catch (err) {
              this.error.textContent = errorText(err);
            }
          },
        },
      }),
      el("button", { type: "button", class: "small", i18n: "schedule.keep", on: { click: () => box.remove() } }));
    item.querySelector(".session-confirm, .move-slots")?.remove();
    item.append(box);
    box.querySelector("button.danger").focus();
  }

  async beginMove(session, item) {
    item.querySelector(".session-confirm, .move-slots")?.remove();
    const box = el("div", { class: "move-slots" });
    item.append(box);
    await this.slotPicker(session.host_id, box, async (slot) => {
      try {
        await this.app.conn.call("session:reschedule", { session_id: session.id, starts_at: slot.starts_at });
        box.remove();
        this.news.textContent = t("schedule.moved", { when: formatDateTime(slot.starts_at, currentLanguage()) });
        await this.load();
      } catch (err) {
        this.error.textContent = errorText(err);
      }
    }).catch((err) => { this.error.textContent = errorText(err); });
  }

  /** A host's free times, a page at a time (a week fetched at a time), each a button that calls ``choose(slot)``. */
  async slotPicker(hostId, box, choose) {
    const free = [];
    let nextFrom = "";
    let more = true;
    const fetchWeek = async () => {
      const reply = await this.app.conn.call("availability:slots", { host_id: hostId, days: SLOT_DAYS, ...(nextFrom ? { from_date: nextFrom } : {}) });
      free.push(...reply.slots.filter((s) => s.free && Date.parse(s.starts_at) > Date.now()));
      const last = reply.slots.at(-1);
      // The next week starts the day after the last slot, in the host's own calendar.
      if (last) nextFrom = nextDay(last.host_local.slice(0, 10));
      more = Boolean(last) && (nextFrom <= dateAfterDays(SLOT_HORIZON_DAYS));
    };
    await fetchWeek();
    let page = 0;
    const slots = el("ul", { class: "slots" });
    const earlier = el("button", { type: "button", class: "small", i18n: "schedule.earlier", on: { click: () => { page -= 1; render(); } } });
    const later = el("button", {
      type: "button", class: "small", i18n: "schedule.later",
      on: {
        click: async () => {
          page += 1;
          while (more && free.length <= page * SLOTS_PER_PAGE) await fetchWeek();
          render();
        },
      },
    });
    const render = () => {
      const shown = free.slice(page * SLOTS_PER_PAGE, (page + 1) * SLOTS_PER_PAGE);
      show(slots, ...(shown.length ? shown.map((slot) => el("li", {},
        el("button", { type: "button", class: "small", text: formatDateTime(slot.starts_at, currentLanguage()), on: { click: () => choose(slot) } })))
        : [el("li", { class: "empty", i18n: "schedule.no_slots" })]));
      earlier.hidden = page === 0;
      later.hidden = !more && (page + 1) * SLOTS_PER_PAGE >= free.length;
    };
    render();
    show(box, slots, el("div", { class: "row slot-pages" }, earlier, later));
  }

  async join(session) {
    try {
      const { room_id } = await this.app.conn.call("session:join", { session_id: session.id });
      this.app.showSection("chats");
      await this.app.onOpen(room_id);
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  bookingForm() {
    const username = el("input", { autocapitalize: "none", autocomplete: "off", required: true });
    const slots = el("div", { class: "slot-picker" });
    const error = el("p", { class: "form-error", attrs: { role: "alert" } });
    const find = async (e) => {
      e.preventDefault();
      error.textContent = "";
      try {
        const { user } = await this.app.conn.call("user:find", { username: username.value.trim().toLowerCase() });
        await this.slotPicker(user.id, slots, (slot) => this.book(user, slot, error, slots));
      } catch (err) {
        error.textContent = err.code === "not_found" ? t("rooms.no_such_user") : errorText(err);
      }
    };
    return el("form", { class: "booking", on: { submit: find } },
      el("h3", { i18n: "schedule.book" }),
      field("schedule.book_with", username),
      el("button", { type: "submit", i18n: "schedule.find_times" }), error, slots);
  }

  async book(host, slot, error, slots) {
    try {
      await this.app.conn.call("session:book", { host_id: host.id, starts_at: slot.starts_at });
      // Said again in the new language when the reader switches (render() calls this).
      const status = el("p", { attrs: { role: "status" } });
      this.renderBooked = () => { status.textContent = t("schedule.booked", { name: host.display_name, when: formatDateTime(slot.starts_at, currentLanguage()) }); };
      this.renderBooked();
      show(slots, status);
      await this.load();
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  availabilityEditor() {
    const rows = el("ul", { class: "windows" });
    const status = el("p", { attrs: { role: "status" } });
    const days = [...Array(7).keys()].map((d) => new Intl.DateTimeFormat(currentLanguage(), { weekday: "long" }).format(new Date(Date.UTC(2024, 0, 1 + d))));
    const addRow = (w = { weekday: 0, start: "09:00", end: "17:00" }) => {
      const weekday = el("select", { attrs: { "aria-label": t("schedule.weekday") } }, ...days.map((name, i) => el("option", { value: String(i), text: name })));
      weekday.value = String(w.weekday);
      const start = el("input", { type: "time", value: w.start, attrs: { "aria-label": t("schedule.from") } });
      const end = el("input", { type: "time", value: w.end === "24:00" ? "23:59" : w.end, attrs: { "aria-label": t("schedule.until") } });
      const row = el("li", { class: "row window" }, weekday, start, end,
        el("button", { type: "button", class: "small", i18n: "schedule.remove_window", on: { click: () => row.remove() } }));
      rows.append(row);
    };
    this.app.conn.call("availability:get", {}).then(({ windows }) => windows.forEach(addRow)).catch(() => {});
    return el("form", {
      class: "availability",
      on: {
        submit: async (e) => {
          e.preventDefault();
          const windows = [...rows.children].map((row) => {
            const [weekday, start, end] = row.querySelectorAll("select, input");
            return { weekday: Number(weekday.value), start: start.value, end: end.value === "23:59" ? "24:00" : end.value };
          });
          try {
            await this.app.conn.call("availability:set", { windows, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone });
            status.textContent = t("schedule.saved");
          } catch (err) {
            status.textContent = errorText(err);
          }
        },
      },
    }, el("h3", { i18n: "schedule.availability" }), el("p", { class: "hint", i18n: "schedule.availability_hint" }), rows,
    el("div", { class: "row" },
      el("button", { type: "button", i18n: "schedule.add_window", on: { click: () => addRow() } }),
      el("button", { type: "submit", class: "primary", i18n: "schedule.save" })), status);
  }

  feedLink() {
    const out = el("p", { class: "feed" });
    return el("div", {}, el("h3", { i18n: "schedule.calendar" }),
      el("button", {
        type: "button", i18n: "schedule.get_feed",
        on: {
          click: async () => {
            try {
              const { url } = await this.app.conn.call("calendar:feed_url");
              show(out, el("a", { href: url, text: url }), el("span", { class: "hint", text: ` ${t("schedule.feed_hint")}` }));
            } catch (err) {
              out.textContent = errorText(err);
            }
          },
        },
      }), out);
  }
}

/** "2027-03-08" → "2027-03-09" (calendar arithmetic on a plain date). */
function nextDay(isoDate) {
  const d = new Date(`${isoDate}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

function dateAfterDays(days) {
  return new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);
}
