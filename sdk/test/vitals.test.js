import { test } from "node:test";
import assert from "node:assert/strict";
import { Interactions, ShiftWindows, rating } from "../src/vitals.js";

test("ratings use the published good / poor thresholds", () => {
  assert.equal(rating("LCP", 2500), "good");
  assert.equal(rating("LCP", 2501), "needs-improvement");
  assert.equal(rating("LCP", 4001), "poor");
  assert.equal(rating("CLS", 0.05), "good");
  assert.equal(rating("CLS", 0.3), "poor");
  assert.equal(rating("INP", 350), "needs-improvement");
});

test("CLS is the largest burst of shifts, ignoring shifts right after input", () => {
  const cls = new ShiftWindows();
  const shift = (startTime, value, hadRecentInput = false) => cls.add({ startTime, value, hadRecentInput });
  shift(100, 0.05);
  shift(600, 0.05); // same burst: < 1 s apart
  shift(3000, 0.02); // new burst after a 2.4 s gap
  shift(3100, 0.5, true); // caused by the person: ignored
  assert.equal(Math.round(cls.max * 100) / 100, 0.1);
  // a burst is cut at 5 s even when shifts keep coming
  const long = new ShiftWindows();
  for (let t = 0; t <= 6000; t += 500) long.add({ startTime: t, value: 0.01, hadRecentInput: false });
  assert.equal(Math.round(long.max * 100) / 100, 0.1);
});

test("INP is the worst interaction, ignoring one outlier per 50", () => {
  const inp = new Interactions();
  assert.equal(inp.value, null);
  inp.add({ interactionId: 1, duration: 80 });
  inp.add({ interactionId: 1, duration: 120 }); // the same interaction's longest entry counts
  inp.add({ interactionId: 2, duration: 90 });
  inp.add({ interactionId: 0, duration: 900 }); // not an interaction (hover, scroll)
  assert.equal(inp.value, 120);
  const many = new Interactions();
  for (let i = 1; i <= 100; i++) many.add({ interactionId: i, duration: i });
  assert.equal(many.value, 98); // two outliers skipped for 100 interactions
});
