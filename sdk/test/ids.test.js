import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, randomHex, sampledFor } from "../src/ids.js";

const VECTORS = JSON.parse(readFileSync(new URL("./sampling-vectors.json", import.meta.url))).vectors;

test("random ids are lowercase hex of the asked length and differ", () => {
  assert.match(randomHex(8), /^[0-9a-f]{16}$/);
  assert.match(newTraceId(), /^[0-9a-f]{32}$/);
  assert.match(newSpanId(), /^[0-9a-f]{16}$/);
  assert.notEqual(newTraceId(), newTraceId());
});

test("traceparent is version 00 with the sampled flag as 01 or 00", () => {
  const t = "4bf92f3577b34da6a3ce929d0e0e4736";
  const s = "00f067aa0ba902b7";
  assert.equal(formatTraceparent(t, s, true), `00-${t}-${s}-01`);
  assert.equal(formatTraceparent(t, s, false), `00-${t}-${s}-00`);
  assert.match(formatTraceparent(newTraceId(), newSpanId(), true), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
});

test("traceparent parsing follows the W3C rules", () => {
  const ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  assert.deepEqual(parseTraceparent(ok), { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", sampled: true });
  assert.equal(parseTraceparent(ok.replace(/-01$/, "-00")).sampled, false);
  for (const bad of [
    "",
    null,
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    ok + "-extra",
  ]) {
    assert.equal(parseTraceparent(bad), null, String(bad));
  }
  assert.ok(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
});

test("the sampling decision matches the shared vectors the Python middleware also checks", () => {
  for (const v of VECTORS) assert.equal(sampledFor(v.trace_id, v.rate), v.sampled, JSON.stringify(v));
});

test("sampling keeps about `rate` of random traces, none at 0 and all at 1", () => {
  let kept = 0;
  for (let i = 0; i < 4000; i++) kept += sampledFor(newTraceId(), 0.25) ? 1 : 0;
  assert.ok(kept > 800 && kept < 1200, `kept ${kept} of 4000`);
  assert.equal(sampledFor(newTraceId(), 0), false);
  assert.equal(sampledFor(newTraceId(), 1), true);
});
