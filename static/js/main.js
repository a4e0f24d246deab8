// The app shell: language, connection banner, sign-in, then the signed-in workspace with its
// sections (conversations for everyone; other sections by role, added by their modules).
import * as api from "./api.js";
import { CallManager } from "./call.js";
import { ChatView } from "./chat.js";
import { Connection } from "./connection.js";
import { el, show } from "./dom.js";
import { FindMentorView } from "./findmentor.js";
import { Attachments } from "./files.js";
import { Goals } from "./goals.js";
import { GROUP_CREATOR_ROLES, GroupCreator, GroupInvitations } from "./groupcreate.js";
import { installHelp, setHelpProfile, showCrisisResources, showResponderJoined } from "./help.js";
import { LANGUAGES, applyTranslations, currentLanguage, onLanguageChange, preferredLanguage, setLanguage, t } from "./i18n.js";
import { MENTOR_ROLES, MenteesView } from "./mentees.js";
import { Outbox } from "./outbox.js";
import { PrivateRoomPanel } from "./private/panel.js";
import { PrivateRooms } from "./private/session.js";
import { SettingsView, followInterfaceLanguage } from "./profile.js";
import { RoomList } from "./roomlist.js";
import { RoomStore } from "./rooms.js";
import { CONSOLE_ROLES, ResponderConsole } from "./responder.js";
import { ScheduleView } from "./schedule.js";
import { forgetToken, savedToken, signIn } from "./session.js";
import { Translations } from "./translation.js";
import { followCallRegion, followVisibleHeight, foldingTopBar } from "./shell.js";
import { Notifier } from "./notify.js";

const BACK_ONLINE_NOTICE_MS = 3000;

const main = document.getElementById("main");
const banner = document.getElementById("connection-banner");
const announcer = document.getElementById("announcer");
const userArea = document.getElementById("user-area");
const sectionNav = document.getElementById("sections");

/** Say something to screen-reader users without moving focus (new messages, alerts). */
export function announce(text) {
  // Clearing first makes the same text be read again when it repeats.
  announcer.textContent = "";
  requestAnimationFrame(() => {
    announcer.textContent = text;
  });
}

function languagePicker() {
  const select = document.getElementById("ui-language");
  show(select, ...LANGUAGES.map((lang) => el("option", { value: lang, text: new Intl.DisplayNames([lang], { type: "language" }).of(lang) })));
  select.value = currentLanguage();
  select.addEventListener("change", () => setLanguage(select.value));
  onLanguageChange((lang) => { select.value = lang; });
}

function showBanner(state) {
  clearTimeout(showBanner.timer);
  banner.className = `banner ${state}`;
  if (state === "online") {
    if (banner.hidden) return;
    banner.textContent = t("connection.back_online");
    showBanner.timer = setTimeout(() => { banner.hidden = true; }, BACK_ONLINE_NOTICE_MS);
    return;
  }
  banner.textContent = t(state === "connecting" ? "connection.connecting" : "connection.reconnecting");
  banner.hidden = false;
}

async function start() {
  await setLanguage(preferredLanguage());
  followVisibleHeight();
  foldingTopBar();
  languagePicker();
  installHelp();
  for (;;) {
    const session = await restoreOrSignIn();
    const reason = await workspace(session);
    if (reason === "signed-out") continue;
  }
}

async function restoreOrSignIn() {
  const token = savedToken();
  if (token) {
    try {
      const { user } = await api.fetchMe(token);
      return { token, user };
    } catch {
      forgetToken();
    }
  }
  show(userArea);
  return signIn(main);
}

/** The signed-in workspace; resolves when the user signs out or the session ends. */
function workspace({ token, user }) {
  return new Promise((resolve) => {
    const conn = new Connection(token);
    const store = new RoomStore(conn, user);
    const outbox = new Outbox(conn, store);
    const app = {
      conn, store, outbox, me: user, announce, decorators: [], sections: [],
      onOpen: (roomId) => openRoom(roomId),
      onBack: () => closeRoom(),
    };
    window.mv = app; // for the browser console and the end-to-end tests' diagnostics
    setHelpProfile(user, conn);
    conn.on("crisis:resources", showCrisisResources);
    // A mentorship's news (a request, an answer, an end) is read out wherever the person is.
    for (const event of ["match:requested", "match:accepted", "match:declined", "match:expired", "mentorship:ended", "session:cancelled", "session:rescheduled"]) {
      conn.on(event, ({ notice }) => notice && announce(notice));
    }
    store.addEventListener("responder_joined", ({ detail }) => {
      if (detail.responder.id !== user.id) showResponderJoined({ room_id: detail.roomId, responder: detail.responder }, app.openConversation);
    });
    app.translations = new Translations(app);
    app.calls = new CallManager(app);
    followCallRegion(app.calls.region);
    app.openRoomId = () => (chat && layout.isConnected && !layout.hidden ? chat.roomId : null);
    app.notifier = new Notifier(app);
    app.files = new Attachments(app);
    app.goals = new Goals(app);
    app.privateRooms = new PrivateRooms(app);
    outbox.privateRooms = app.privateRooms;
    const stopFollowingLanguage = followInterfaceLanguage(app);
    const base = String(user.locale || "").slice(0, 2);
    if (LANGUAGES.includes(base) && base !== currentLanguage()) setLanguage(base);

    const roomList = new RoomList(app);
    const invitations = new GroupInvitations(app);
    roomList.list.before(invitations.root);
    if (GROUP_CREATOR_ROLES.has(user.role)) roomList.root.append(new GroupCreator(app).root);
    const chatPane = el("div", { class: "chat-pane" }, el("p", { class: "empty placeholder", i18n: "chat.pick_room" }));
    const layout = el("div", { class: "workspace" }, roomList.root, chatPane);
    let chat = null;
    const lastRoomKey = `mv.last_room.${user.id}`;
    // A room the user lost access to (a crisis responder who left, or whose alert closed) closes.
    store.addEventListener("rooms", () => chat && !store.rooms.has(chat.roomId) && closeRoom());

    async function openRoom(roomId) {
      chat?.destroy();
      chat = new ChatView(app, roomId);
      app.calls.decorateChat(chat);
      app.files.decorateChat(chat);
      app.goals.decorateChat(chat);
      if (chat.room?.private) chat.privatePanel = new PrivateRoomPanel(app, chat);
      roomList.select(roomId);
      show(chatPane, chat.root);
      layout.classList.add("room-open");
      // Coming back (a reload, a new visit) opens the conversation the person was in.
      localStorage.setItem(lastRoomKey, roomId);
      app.notifier.seen(roomId);
      await chat.start().catch(() => {});
      chat?.focusComposer();
    }

    function closeRoom() {
      const roomId = chat?.roomId;
      chat?.destroy();
      chat = null;
      roomList.select(null);
      layout.classList.remove("room-open");
      localStorage.removeItem(lastRoomKey);
      show(chatPane, el("p", { class: "empty placeholder", i18n: "chat.pick_room" }));
      if (roomId) roomList.root.querySelector(`[data-room-id="${CSS.escape(roomId)}"]`)?.focus();
    }

    const signOut = el("button", {
      type: "button", class: "small", i18n: "session.sign_out",
      on: {
        click: async () => {
          await api.logout(token).catch(() => {});
          end("signed-out");
        },
      },
    });
    show(userArea, el("span", { class: "who", text: user.display_name || user.username }), signOut);

    function end(reason) {
      chat?.destroy();
      app.calls.destroy();
      app.notifier.destroy();
      stopFollowingLanguage();
      app.settings?.destroy();
      app.console?.destroy();
      app.schedule?.destroy();
      show(sectionNav);
      conn.close();
      forgetToken();
      setHelpProfile(null);
      banner.hidden = true;
      document.getElementById("support-card").hidden = true;
      resolve(reason);
    }

    // Sections: conversations for everyone, the others by role; each view is built on first visit.
    const sections = [
      { id: "chats", label: "nav.chats", build: () => layout },
      { id: "schedule", label: "nav.schedule", build: () => (app.schedule = new ScheduleView(app)).root },
      // Finding a mentor (mentees) and answering requests (mentors) (issue 18).
      user.role === "mentee" && { id: "find-mentor", label: "nav.find_mentor", build: () => (app.findMentor = new FindMentorView(app)).root, onShow: () => app.findMentor?.refresh() },
      MENTOR_ROLES.has(user.role) && { id: "mentees", label: "nav.my_mentees", build: () => (app.mentees = new MenteesView(app)).root, onShow: () => app.mentees?.refresh() },
      // Coming back to the console re-reads the queue: first contact and claims made meanwhile show.
      CONSOLE_ROLES.has(user.role) && { id: "crisis", label: "nav.crisis", build: () => (app.console = new ResponderConsole(app)).root, onShow: () => app.console?.refresh() },
      { id: "settings", label: "nav.settings", build: () => (app.settings = new SettingsView(app)).root },
    ].filter(Boolean);
    const built = new Map();
    function showSection(id) {
      for (const section of sections) {
        if (section.id === id && !built.has(id)) {
          const node = section.build();
          built.set(id, node === layout ? layout : el("div", { class: "section-view" }, node));
          main.append(built.get(id));
        }
        const wasHidden = built.get(section.id)?.hidden;
        built.get(section.id)?.toggleAttribute("hidden", section.id !== id);
        if (section.id === id && wasHidden) section.onShow?.();
        section.button.setAttribute("aria-current", section.id === id ? "page" : "false");
      }
    }
    app.showSection = showSection;
    /** Open a room from outside the room list (the responder console, the crisis card) in one step. */
    app.openConversation = async (roomId) => {
      if (!store.rooms.has(roomId)) await store.join(roomId);
      showSection("chats");
      await openRoom(roomId);
    };
    for (const section of sections) {
      section.button = el("button", { type: "button", i18n: section.label, on: { click: () => showSection(section.id) } });
    }
    show(sectionNav, ...(sections.length > 1 ? sections.map((s) => s.button) : []));

    conn.addEventListener("status", (e) => showBanner(e.detail.state));
    conn.addEventListener("unauthorized", () => end("signed-out"));
    conn.socket.once("connect", () => {
      store.load().then(() => {
        const last = localStorage.getItem(lastRoomKey);
        if (last && store.rooms.has(last) && !chat && layout.isConnected && !layout.hidden) openRoom(last);
      }).catch(() => {});
      // This browser's identity for private rooms, registered at once: others share keys with it
      // from their next message on, so it reads from the moment it is known.
      app.privateRooms.ready().catch(() => {});
    });
    show(main);
    showSection(CONSOLE_ROLES.has(user.role) ? "crisis" : "chats");
    applyTranslations(main);
    conn.open();
  });
}

onLanguageChange(() => {
  if (!banner.hidden && banner.classList.contains("reconnecting")) banner.textContent = t("connection.reconnecting");
});

start();
