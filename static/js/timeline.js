// One room's messages as the client knows them: in seq order, each id once, however they arrived
// (live, from a reconnect gap fill, from history paging, twice because of a retry).
export class Timeline {
  constructor(roomId) {
    this.roomId = roomId;
    this.messages = []; // ascending by seq
    this.byId = new Map();
    this.hasMoreBefore = false;
    this.loaded = false;
    // Highest seq known to be contiguous with what we hold; a live message above lastSeq + 1 means a gap.
    this.knownLastSeq = 0;
  }

  get lastSeq() {
    return Math.max(this.knownLastSeq, this.messages.at(-1)?.seq ?? 0);
  }

  get firstSeq() {
    return this.messages[0]?.seq ?? this.lastSeq + 1;
  }

  /** True when a live message with this seq cannot follow what we hold without a gap. */
  hasGapBefore(seq) {
    return this.loaded && seq > this.lastSeq + 1;
  }

  /** Insert or update; returns {added, changed} (each in seq order) for the view to patch. */
  merge(incoming) {
    const added = [];
    const changed = [];
    for (const message of incoming) {
      const known = this.byId.get(message.id);
      if (known) {
        if (isNewer(message, known)) {
          Object.assign(known, message);
          changed.push(known);
        }
        continue;
      }
      const copy = { ...message };
      this.byId.set(copy.id, copy);
      this.messages.splice(this.insertionIndex(copy.seq), 0, copy);
      added.push(copy);
    }
    added.sort((a, b) => a.seq - b.seq);
    return { added, changed };
  }

  /** A message's new reactions tally (from ``message:reactions``); the message, or null if not held. */
  setReactions(messageId, reactions) {
    const known = this.byId.get(messageId);
    if (!known) return null;
    known.reactions = reactions;
    return known;
  }

  markDeleted(messageId) {
    const known = this.byId.get(messageId);
    if (!known || known.deleted) return null;
    known.deleted = true;
    known.body = null;
    return known;
  }

  /** The message that follows seq in the timeline (where a new node goes before), or null. */
  nextAfter(seq) {
    return this.messages[this.insertionIndex(seq + 0.5)] ?? null;
  }

  insertionIndex(seq) {
    let lo = 0;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.messages[mid].seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function isNewer(incoming, known) {
  if (incoming.deleted && !known.deleted) return true;
  if (known.deleted) return false;
  return (incoming.edited_at || "") > (known.edited_at || "") || incoming.body !== known.body || incoming.translation !== known.translation;
}
