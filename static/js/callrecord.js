// How a call shows in its conversation: the server records each ended call as the caller's
// message of kind "call" whose body is {call_id, media, outcome, duration_s} (JSON).
import { t } from "./i18n.js";

/** "Video call · 4 min", "Missed call from Ana", "Call not answered", "Call declined". */
export function callRecordText(message, { mine, callerName }) {
  let record;
  try {
    record = JSON.parse(message.body || "{}");
  } catch {
    record = {};
  }
  if (record.outcome === "ended") {
    const seconds = Number(record.duration_s) || 0;
    const duration = seconds < 60 ? t("call.record_seconds", { count: seconds }) : t("call.record_minutes", { count: Math.round(seconds / 60) });
    return t(record.media === "audio" ? "call.record_audio" : "call.record_video", { duration });
  }
  if (record.outcome === "declined") return t("call.record_declined");
  return mine ? t("call.record_unanswered") : t("call.record_missed", { name: callerName });
}
