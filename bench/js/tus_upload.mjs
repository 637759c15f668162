// The tus client side of the benchmark: tus-js-client in Node, with its default chunk size
// (Infinity: the whole file in one PATCH request), as a tus user would run it.
//
//   node js/tus_upload.mjs --endpoint URL --file PATH [--count N] [--tickets ID,ID,...]
//
// --tickets: Incoming!!'s tus face takes the ticket in Upload-Metadata key "ticket" (one per
// upload, in order); @tus/server needs none.
// Starts N uploads of the same file at once (each its own tus upload), waits for all of them,
// and prints one JSON line: {"seconds": wall time from the first start() to the last success,
// "bytes": total bytes, "uploads": N, "clientCpuSeconds": this process's user+system CPU}.
import fs from "node:fs";
import { parseArgs } from "node:util";
import { Upload } from "tus-js-client";

const { values: args } = parseArgs({
  options: {
    endpoint: { type: "string" },
    file: { type: "string" },
    count: { type: "string", default: "1" },
    tickets: { type: "string", default: "" },
  },
});

const tickets = args.tickets ? args.tickets.split(",") : [];

function uploadOnce(endpoint, path, index) {
  const metadata = { filename: `bench-${index}.bin` };
  if (tickets.length) metadata.ticket = tickets[index];
  return new Promise((resolve, reject) => {
    const upload = new Upload(fs.createReadStream(path), {
      endpoint,
      metadata,
      // The benchmark measures one clean attempt: a failure must fail the run, not be retried.
      retryDelays: null,
      onError: reject,
      onSuccess: resolve,
    });
    upload.start();
  });
}

const count = Number(args.count);
const size = fs.statSync(args.file).size;
const cpuBefore = process.cpuUsage();
const started = process.hrtime.bigint();
const uploads = [];
for (let i = 0; i < count; i++) uploads.push(uploadOnce(args.endpoint, args.file, i));
await Promise.all(uploads);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuBefore);
console.log(JSON.stringify({
  seconds,
  bytes: size * count,
  uploads: count,
  clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
}));
