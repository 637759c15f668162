import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IN_FLIGHT_SECONDS, MIN_IN_FLIGHT_BYTES, inFlightLimit, messageSize } from '../src/flow_limits.js';
import { RateMeter } from '../src/rate_meter.js';
import { FakeClock, FakeFile, MiB, makeWorld, settle, warmUp } from './fakes.js';

const KiB = 1024;

test('the rate meter smooths acknowledged bytes over time and ignores the time of a restart', () => {
  const clock = new FakeClock();
  const meter = new RateMeter(clock.now);
  meter.acknowledged(0);
  assert.equal(meter.bytesPerSecond, 0, 'one ack is no rate');
  clock.advance(50);
  meter.acknowledged(50_000);
  assert.equal(meter.bytesPerSecond, 0, 'too short a span to sample');
  clock.advance(50);
  meter.acknowledged(100_000);
  assert.equal(meter.bytesPerSecond, 1_000_000, 'the first sample is taken as it is');
  for (let i = 1; i <= 50; i++) {
    clock.advance(100);
    meter.acknowledged(100_000 + i * 200_000); // 2 MB/s
  }
  assert.ok(Math.abs(meter.bytesPerSecond - 2_000_000) < 20_000, String(meter.bytesPerSecond));
  meter.restart();
  clock.advance(60_000); // paused for a minute
  meter.acknowledged(20_000_000);
  clock.advance(100);
  meter.acknowledged(20_200_000);
  assert.ok(Math.abs(meter.bytesPerSecond - 2_000_000) < 20_000, 'the pause did not count as a slow link');
});

test('in-flight bound: at least 256 KiB, else 0.75 s of the rate, never above the window; messages a quarter of it', () => {
  assert.equal(MIN_IN_FLIGHT_BYTES, 256 * KiB);
  assert.equal(inFlightLimit(0, 16 * MiB), 256 * KiB);
  assert.equal(inFlightLimit(1e6, 16 * MiB), 750_000);
  assert.equal(inFlightLimit(8e6, 16 * MiB), 6_000_000);
  assert.equal(inFlightLimit(1e9, 16 * MiB), 16 * MiB);
  assert.equal(inFlightLimit(1e6, 100 * KiB), 100 * KiB);
  assert.equal(messageSize(0, MiB, 16 * MiB), 64 * KiB);
  assert.equal(messageSize(1e6, MiB, 16 * MiB), 187_500);
  assert.equal(messageSize(1e9, MiB, 16 * MiB), MiB, 'never above chunkSize');
  assert.equal(messageSize(1e9, 4 * MiB, MiB), MiB, 'nor above the window');
  assert.ok(IN_FLIGHT_SECONDS >= 0.5 && IN_FLIGHT_SECONDS <= 1);
});

/** An uploader of a large file on a link of `rate` bytes/s, played until its rate is measured. */
async function uploadAt(rate) {
  const world = makeWorld();
  const handle = world.uploaderFor(new FakeFile(4096 * MiB));
  handle.uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: MiB, window: 16 * MiB });
  await settle();
  return { world, ws, ...handle };
}

test('before the rate is known, 256 KiB in flight in messages of 64 KiB', async () => {
  const { ws, uploader } = await uploadAt(1e6);
  assert.equal(uploader.bytes_tx, 256 * KiB);
  assert.deepEqual(ws.ranges().map(([start, end]) => end - start), [64 * KiB, 64 * KiB, 64 * KiB, 64 * KiB]);
  assert.equal(uploader.bytes_per_second, 0);
  assert.equal(uploader.seconds_left, null);
});

for (const rate of [1e6, 8e6]) {
  test(`at ${rate / 1e6} MB/s unacknowledged bytes stay within 0.75 s of the rate, in messages of a quarter of that`, async () => {
    const { world, ws, uploader } = await uploadAt(rate);
    await warmUp(world, ws, uploader, rate);
    // Hold the link at that rate for a while, then look at what is on the way.
    for (let i = 0; i < 200; i++) {
      world.clock.advance(20);
      ws.ack(Math.min(uploader.bytes_tx, uploader.bytes_acked + rate / 50));
      ws.drain();
    }
    const measured = uploader.bytes_per_second;
    assert.ok(Math.abs(measured - rate) / rate < 0.05, `measured ${measured}`);
    assert.ok(uploader.bytes_ahead <= Math.max(256 * KiB, 0.75 * measured), `${uploader.bytes_ahead} in flight`);
    assert.ok(uploader.bytes_ahead >= 0.5 * measured, 'yet enough to keep the link busy');
    const sizes = ws.ranges().slice(-5).map(([start, end]) => end - start);
    for (const size of sizes) assert.ok(size <= (0.75 * measured) / 4 + 1, `message of ${size}`);
    // After pause() no more bytes are sent: what lands is what was in flight, under a second's worth.
    const ackedAtPause = uploader.bytes_acked;
    const sentAtPause = uploader.bytes_tx;
    uploader.pause();
    for (let i = 0; i < 100; i++) {
      world.clock.advance(20);
      ws.ack(uploader.bytes_tx);
    }
    assert.equal(uploader.bytes_tx, sentAtPause);
    assert.ok(uploader.bytes_acked - ackedAtPause <= measured, `moved ${uploader.bytes_acked - ackedAtPause} after pause`);
  });
}

test('on a fast link the window limits as before: messages of chunkSize, the window full', async () => {
  const { world, ws, uploader } = await uploadAt(1e9);
  await warmUp(world, ws, uploader, 1e9);
  ws.drain();
  world.clock.advance(5); // the send buffer is polled while full
  ws.drain();
  world.clock.advance(5);
  assert.equal(uploader.bytes_ahead, 16 * MiB);
  const [start, end] = ws.ranges().at(-1);
  assert.equal(end - start, MiB);
});

test('bytes_per_second and seconds_left follow the acknowledgements', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(10_000_000));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 1_000_000, window: 16 * MiB });
  for (let i = 1; i <= 40; i++) {
    world.clock.advance(100);
    ws.ack(i * 100_000); // 1 MB/s
  }
  assert.ok(Math.abs(uploader.bytes_per_second - 1e6) < 1e4);
  assert.ok(Math.abs(uploader.seconds_left - 6) < 0.1, String(uploader.seconds_left));
  ws.ack(10_000_000);
  assert.equal(uploader.seconds_left, 0);
});
