// What the on-device detector of private rooms costs in a JS engine (node stands in for the
// browser): the model file's size, parse and build time, and µs per message on the same corpus as
// tests/test_crisis_device_parity.py, with the writer's language as hint (as the web client calls it).
//
//   .venv/bin/python -c "import json; from crisis.training.datasets import all_examples; \
//     json.dump([[e.text, e.language] for e in all_examples() if e.split == 'test'], open('/tmp/corpus.json', 'w'))"
//   node bench/crisis_device.mjs /tmp/corpus.json [rounds]
import { readFileSync, statSync } from "node:fs";
import { Detector } from "../static/js/crisis/detector.js";

const MODEL = new URL("../static/js/crisis/model.json", import.meta.url);
const messages = JSON.parse(readFileSync(process.argv[2], "utf-8"));
const rounds = Number(process.argv[3] || 3);

let started = performance.now();
const model = JSON.parse(readFileSync(MODEL, "utf-8"));
const parsed = performance.now() - started;
started = performance.now();
const detector = new Detector(model);
const built = performance.now() - started;
console.log(`model: ${(statSync(MODEL).size / 1e6).toFixed(1)} MB, parse ${parsed.toFixed(0)} ms, build ${built.toFixed(0)} ms`);

const best = messages.map(() => Infinity);
for (let round = 0; round < rounds; round += 1) {
  messages.forEach(([text, language], i) => {
    const t = performance.now();
    detector.detect(text, language);
    best[i] = Math.min(best[i], performance.now() - t);
  });
}
const sorted = best.map((ms) => ms * 1000).sort((a, b) => a - b);
const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
console.log(`${sorted.length} messages, best of ${rounds}: p50 ${at(0.5).toFixed(0)} µs, p90 ${at(0.9).toFixed(0)} µs, p99 ${at(0.99).toFixed(0)} µs`);
