// Grades messages with the browser's detector (static/js/crisis/) under node, for
// tests/test_crisis_device_parity.py: argv[2] is the exported model, argv[3] a JSON file of
// [text, language] pairs; prints one JSON array of tiers.
import { readFileSync } from "node:fs";
import { Detector } from "../../static/js/crisis/detector.js";

const detector = new Detector(JSON.parse(readFileSync(process.argv[2], "utf-8")));
const messages = JSON.parse(readFileSync(process.argv[3], "utf-8"));
process.stdout.write(JSON.stringify(messages.map(([text, language]) => detector.detect(text, language).tier)));
