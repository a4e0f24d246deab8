// How good a call's connection is, from what the browser measures (RTCPeerConnection.getStats):
// round-trip time, the share of inbound packets lost, and how many video frames per second are
// decoded. Shown as a word ("good", "fair", "poor") with the figures, never as a colour alone.

const SAMPLE_EVERY_MS = 1000;

// Thresholds, per level: a sample is "good" when it meets every good limit, "fair" when it meets
// every fair limit, else "poor". RTT in milliseconds, loss as a fraction of packets.
const GOOD = { rttMs: 250, loss: 0.02, fps: 15 };
const FAIR = { rttMs: 500, loss: 0.08, fps: 5 };

/** Cumulative inbound/outbound figures of a peer connection at one moment. */
export async function readTotals(pc) {
  const totals = {
    at: performance.now(), rttMs: null, packetsReceived: 0, packetsLost: 0,
    videoFramesDecoded: 0, videoBytesReceived: 0, audioBytesReceived: 0,
  };
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  stats.forEach((s) => {
    if (s.type === "inbound-rtp") {
      totals.packetsReceived += s.packetsReceived || 0;
      totals.packetsLost += Math.max(0, s.packetsLost || 0);
      if (s.kind === "video") {
        totals.videoFramesDecoded += s.framesDecoded || 0;
        totals.videoBytesReceived += s.bytesReceived || 0;
      } else if (s.kind === "audio") {
        totals.audioBytesReceived += s.bytesReceived || 0;
      }
    } else if (s.type === "candidate-pair" && (s.id === pairId || (!pairId && s.nominated && s.state === "succeeded"))) {
      if (typeof s.currentRoundTripTime === "number") totals.rttMs = s.currentRoundTripTime * 1000;
    }
  });
  return totals;
}

/**
 * The figures between two samples: {rttMs, loss, fps, receiving}.
 * `receiving` is false when no packet arrived in between (nothing is reaching us).
 */
export function measure(before, after) {
  const seconds = Math.max(0.001, (after.at - before.at) / 1000);
  const received = after.packetsReceived - before.packetsReceived;
  const lost = Math.max(0, after.packetsLost - before.packetsLost);
  return {
    rttMs: after.rttMs,
    loss: received + lost > 0 ? lost / (received + lost) : 0,
    fps: (after.videoFramesDecoded - before.videoFramesDecoded) / seconds,
    receiving: received > 0,
  };
}

/**
 * "good" | "fair" | "poor" for one measurement. Silence counts against the connection only when
 * media is expected (someone else is in the call). Video frame rate only counts when video is
 * expected, and can only lower a call to "fair": a peer who turned the camera off sends almost
 * no frames, and that says nothing about the network.
 */
export function classify({ rttMs, loss, fps, receiving }, { expectMedia = true, expectVideo = false } = {}) {
  if (!receiving && expectMedia) return "poor";
  if (!receiving) return rttMs !== null && rttMs <= GOOD.rttMs ? "good" : rttMs !== null && rttMs <= FAIR.rttMs ? "fair" : "poor";
  const rtt = rttMs ?? 0;
  if (rtt > FAIR.rttMs || loss > FAIR.loss) return "poor";
  if (rtt > GOOD.rttMs || loss > GOOD.loss) return "fair";
  if (expectVideo && fps < GOOD.fps) return "fair";
  return "good";
}

/** Samples a peer connection every second and calls onChange({level, figures}). */
export class QualityMeter {
  /** expecting() answers {expectMedia, expectVideo} at each sample. */
  constructor(pc, { expecting, onChange }) {
    this.pc = pc;
    this.expecting = expecting;
    this.onChange = onChange;
    this.previous = null;
    this.timer = setInterval(() => this.sample().catch(() => {}), SAMPLE_EVERY_MS);
  }

  async sample() {
    if (this.pc.connectionState === "closed") return;
    const now = await readTotals(this.pc);
    if (this.previous) {
      const figures = measure(this.previous, now);
      this.onChange({ level: classify(figures, this.expecting()), figures });
    }
    this.previous = now;
  }

  stop() {
    clearInterval(this.timer);
  }
}
