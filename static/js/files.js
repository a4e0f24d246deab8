// Files in a conversation: the composer's "Attach a file" with upload progress and cancel, shared
// files shown in the timeline (images as server-made thumbnails, everything with a Download
// button), and the room's library of pinned links and files.
//
// File bytes never go over Socket.IO: they are sent to and fetched from the HTTP file routes with
// the bearer token (never a cookie), and shown from blob: URLs (the page's CSP allows img blob:).
import { ApiError } from "./api.js";
import { errorText } from "./chat.js";
import { el, field, show } from "./dom.js";
import { currentLanguage, t } from "./i18n.js";

export const FILE_KIND = "file";
// Who may pin resources to a room's library (the server checks the same roles).
export const CURATOR_ROLES = new Set(["mentor", "leader", "professional", "admin"]);
const ROOM_MODERATORS = new Set(["leader", "co-leader"]);
const DOWNLOAD_URL_LIFETIME_MS = 60_000;
const TITLE_MAX = 120;

/** The shared file a message of kind "file" describes, or null for anything else. */
export function fileOf(message) {
  if (message.kind !== FILE_KIND || message.deleted || !message.body) return null;
  try {
    return JSON.parse(message.body);
  } catch {
    return null;
  }
}

export function formatSize(bytes) {
  const units = [["gigabyte", 1024 ** 3], ["megabyte", 1024 ** 2], ["kilobyte", 1024]];
  for (const [unit, size] of units) {
    if (bytes >= size) return new Intl.NumberFormat(currentLanguage(), { style: "unit", unit, maximumFractionDigits: 1 }).format(bytes / size);
  }
  return new Intl.NumberFormat(currentLanguage(), { style: "unit", unit: "byte" }).format(bytes);
}

/** POST the file's bytes; resolves with {file, message}. Progress from 0 to 1; abort through signal. */
export function uploadFile(token, roomId, file, { onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/rooms/${encodeURIComponent(roomId)}/files`);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => e.lengthComputable && onProgress?.(e.loaded / e.total));
    xhr.addEventListener("load", () => {
      const data = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300 && data.ok) resolve(data);
      else reject(new ApiError(data.error?.code || "http_error", data.error?.message || xhr.statusText, data.error?.details));
    });
    xhr.addEventListener("error", () => reject(new ApiError("network", "")));
    xhr.addEventListener("abort", () => reject(new ApiError("cancelled", "")));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(file);
  });
}

async function fetchBlob(token, path) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    throw new ApiError("network", "");
  }
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new ApiError(data.error?.code || "http_error", data.error?.message || response.statusText);
  }
  return response.blob();
}

export class Attachments {
  constructor(app) {
    this.app = app;
    this.thumbnails = new Map(); // file id -> Promise of a blob: URL
    app.decorators.push((message, node, chat) => this.decorate(message, node, chat));
    app.messageText = (message) => {
      const file = fileOf(message);
      return file ? t("files.shared", { name: file.name }) : message.body;
    };
  }

  get token() {
    return this.app.conn.token;
  }

  get canCurate() {
    return CURATOR_ROLES.has(this.app.me.role);
  }

  /** Add "Attach a file" to the chat's composer and the library to its header. */
  decorateChat(chat) {
    // The server keeps files readable to itself: a private room has none (see docs/private-rooms.md).
    if (chat.room?.private) return;
    const input = el("input", {
      type: "file", class: "visually-hidden", tabIndex: -1,
      accept: "image/jpeg,image/png,image/webp,image/gif,application/pdf,text/plain,text/csv,.docx,.xlsx,.pptx,.odt,.ods,.odp",
      attrs: { "aria-hidden": "true" },
      on: { change: () => { for (const file of input.files) this.send(chat, file, uploads); input.value = ""; } },
    });
    const button = el("button", { type: "button", class: "attach-button", i18n: "files.attach", on: { click: () => input.click() } });
    const uploads = el("ul", { class: "uploads", attrs: { "aria-live": "polite" } });
    chat.composer.append(el("div", { class: "attach-row" }, button, input, uploads));
    chat.library = new Library(this, chat);
  }

  /** Upload one file with a progress line that can cancel it; a refusal stays shown until dismissed. */
  async send(chat, file, uploads) {
    const abort = new AbortController();
    const progress = el("progress", { max: 100, value: 0, attrs: { "aria-label": t("files.progress_label", { name: file.name }) } });
    const status = el("span", { class: "upload-status", text: t("files.uploading", { name: file.name, percent: 0 }) });
    const cancel = el("button", { type: "button", class: "link-button", i18n: "files.cancel", on: { click: () => abort.abort() } });
    const item = el("li", { class: "upload" }, status, " ", progress, " ", cancel);
    uploads.append(item);
    try {
      const { message } = await uploadFile(this.token, chat.roomId, file, {
        signal: abort.signal,
        onProgress: (fraction) => {
          const percent = Math.round(fraction * 100);
          progress.value = percent;
          status.textContent = t("files.uploading", { name: file.name, percent });
        },
      });
      item.remove();
      this.app.store.mergeInto(chat.roomId, [message]);
    } catch (error) {
      if (error.code === "cancelled") {
        item.remove();
        this.app.announce(t("files.cancelled", { name: file.name }));
        return;
      }
      item.classList.add("failed");
      const dismiss = el("button", { type: "button", class: "link-button", i18n: "files.dismiss", on: { click: () => item.remove() } });
      show(item, el("span", { class: "form-error", attrs: { role: "alert" }, text: t("files.failed", { name: file.name, reason: errorText(error) }) }), " ", dismiss);
    }
  }

  /** A file message: its thumbnail (images), name, size, Download, and "Pin to library" for curators. */
  decorate(message, node, chat) {
    const file = fileOf(message);
    const body = node.querySelector(".msg-body");
    if (!file || !body) return;
    const card = el("div", { class: "msg-body file-card" });
    if (file.image) {
      const img = el("img", { class: "thumbnail", alt: file.name, width: file.image.width, height: file.image.height });
      card.append(img);
      this.thumbnail(file.file_id).then((url) => { img.src = url; }).catch(() => img.replaceWith(el("span", { class: "form-error", i18n: "files.preview_failed" })));
    }
    const actions = el("div", { class: "file-actions" },
      el("button", { type: "button", class: "small", text: t("files.download", { name: file.name }), on: { click: (e) => this.download(file, e.currentTarget) } }));
    if (this.canCurate && chat?.library) {
      actions.append(el("button", { type: "button", class: "small", i18n: "library.pin_file", on: { click: () => chat.library.pinFile(file) } }));
    }
    card.append(el("p", { class: "file-line" }, el("span", { class: "file-name", text: file.name }), " ", el("span", { class: "file-size", text: formatSize(file.size) })), actions);
    body.replaceWith(card);
  }

  thumbnail(fileId) {
    if (!this.thumbnails.has(fileId)) {
      const url = fetchBlob(this.token, `/api/files/${fileId}/thumbnail`).then((blob) => URL.createObjectURL(blob));
      url.catch(() => this.thumbnails.delete(fileId));
      this.thumbnails.set(fileId, url);
    }
    return this.thumbnails.get(fileId);
  }

  /** Fetch with the token, then save through a blob: link (the browser's own download). */
  async download(file, button) {
    button.disabled = true;
    try {
      const url = URL.createObjectURL(await fetchBlob(this.token, `/api/files/${file.file_id}`));
      const link = el("a", { href: url, download: file.name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), DOWNLOAD_URL_LIFETIME_MS);
    } catch (error) {
      this.app.announce(errorText(error));
      button.after(el("span", { class: "form-error", attrs: { role: "alert" }, text: errorText(error) }));
    } finally {
      button.disabled = false;
    }
  }
}

/** A room's library: pinned links and files, and the "Pin a link" form for curators. */
class Library {
  constructor(attachments, chat) {
    this.attachments = attachments;
    this.app = attachments.app;
    this.chat = chat;
    this.roomId = chat.roomId;
    this.resources = [];
    const panelId = `library-${this.roomId}`;
    this.toggle = el("button", { type: "button", i18n: "library.open", attrs: { "aria-expanded": "false", "aria-controls": panelId }, on: { click: () => this.setOpen(this.panel.hidden) } });
    this.list = el("ul", { class: "library-list" });
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.panel = el("aside", { class: "library", id: panelId, attrs: { "aria-labelledby": `${panelId}-title` }, hidden: true },
      el("h3", { id: `${panelId}-title`, i18n: "library.title" }), this.list, this.error, attachments.canCurate ? this.linkForm() : null);
    chat.headerExtras.append(this.toggle);
    chat.scroller.before(this.panel);
    const { signal } = chat.abort;
    const onPinned = (resource) => resource.room_id === this.roomId && !signal.aborted && this.upsert(resource);
    const onUnpinned = ({ room_id, resource_id }) => room_id === this.roomId && !signal.aborted && this.remove(resource_id);
    this.app.conn.on("resource:pinned", onPinned);
    this.app.conn.on("resource:unpinned", onUnpinned);
    signal.addEventListener("abort", () => {
      this.app.conn.socket.off("resource:pinned", onPinned);
      this.app.conn.socket.off("resource:unpinned", onUnpinned);
    });
  }

  async setOpen(open) {
    this.panel.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    if (open) await this.load();
  }

  async load() {
    try {
      this.resources = (await this.app.conn.call("resource:list", { room_id: this.roomId })).resources;
      this.render();
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }

  upsert(resource) {
    this.resources = [...this.resources.filter((r) => r.id !== resource.id), resource];
    this.render();
  }

  remove(resourceId) {
    this.resources = this.resources.filter((r) => r.id !== resourceId);
    this.render();
  }

  mayUnpin(resource) {
    const me = this.app.me;
    const roomRole = this.app.store.member(this.roomId, me.id)?.room_role;
    return resource.pinned_by === me.id || ROOM_MODERATORS.has(roomRole) || me.role === "admin";
  }

  render() {
    if (!this.resources.length) {
      show(this.list, el("li", { class: "empty", i18n: "library.empty" }));
      return;
    }
    show(this.list, ...this.resources.map((resource) => {
      const item = el("li", { class: "resource" });
      if (resource.url && /^https?:\/\//i.test(resource.url)) {
        item.append(el("a", { href: resource.url, target: "_blank", rel: "noopener noreferrer", text: resource.title }),
          " ", el("span", { class: "resource-host", text: new URL(resource.url).host }));
      } else if (resource.file) {
        item.append(el("button", { type: "button", class: "link-button", text: resource.title, on: { click: (e) => this.attachments.download(resource.file, e.currentTarget) } }),
          " ", el("span", { class: "resource-host", text: `${resource.file.name}, ${formatSize(resource.file.size)}` }));
      }
      if (CURATOR_ROLES.has(this.app.me.role) && this.mayUnpin(resource)) {
        item.append(" ", el("button", { type: "button", class: "link-button", text: t("library.unpin", { title: resource.title }), on: { click: () => this.unpin(resource) } }));
      }
      return item;
    }));
  }

  linkForm() {
    const title = el("input", { type: "text", maxLength: TITLE_MAX, required: true });
    const url = el("input", { type: "url", required: true, placeholder: "https://" });
    return el("form", {
      class: "pin-link",
      on: {
        submit: async (e) => {
          e.preventDefault();
          if (await this.pin({ title: title.value, url: url.value })) {
            title.value = "";
            url.value = "";
          }
        },
      },
    }, el("h4", { i18n: "library.pin_link" }), field("library.link_title", title), field("library.link_url", url),
    el("button", { type: "submit", class: "primary small", i18n: "library.pin" }));
  }

  async pinFile(file) {
    await this.setOpen(true);
    await this.pin({ title: file.name.slice(0, TITLE_MAX), file_id: file.file_id });
  }

  async pin(what) {
    this.error.textContent = "";
    try {
      const { resource } = await this.app.conn.call("resource:pin", { room_id: this.roomId, ...what });
      this.upsert(resource);
      this.app.announce(t("library.pinned", { title: resource.title }));
      return true;
    } catch (error) {
      this.error.textContent = errorText(error);
      return false;
    }
  }

  async unpin(resource) {
    this.error.textContent = "";
    try {
      await this.app.conn.call("resource:unpin", { room_id: this.roomId, resource_id: resource.id });
      this.remove(resource.id);
    } catch (error) {
      this.error.textContent = errorText(error);
    }
  }
}
