// Uploads a file with the unmodified tus-js-client (Node.js) and prints one line of JSON.
//
//   node tus_upload.mjs '{"endpoint": "...", "file": "...", "ticket": "...", ...}'
//
// Options: "uploadUrl" resumes an earlier upload at its URL; "abortAt" aborts once that many
// bytes are acknowledged (prints the URL, to resume later); "terminateAt" aborts and
// terminates (DELETE) there; "chunkSize" sends PATCHes of at most that many bytes.
// The package comes from test/browser/node_modules (its package.json pins the version).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(new URL("../browser/package.json", import.meta.url));
const tus = require("tus-js-client");

const options = JSON.parse(process.argv[2]);
const data = readFileSync(options.file);
const report = (value) => {
  process.stdout.write(JSON.stringify(value) + "\n");
  process.exit(0);
};

const upload = new tus.Upload(data, {
  endpoint: options.endpoint,
  uploadUrl: options.uploadUrl || null,
  metadata: { ticket: options.ticket, filename: options.filename || "tus.bin" },
  chunkSize: options.chunkSize || Infinity,
  retryDelays: [100, 300, 500, 1000, 1000, 1000],
  uploadDataDuringCreation: Boolean(options.withCreation),
  onProgress(sent, total) {
    progress.push(sent);
  },
  onChunkComplete(chunk, accepted, total) {
    acknowledged.push(accepted);
    const stopAt = options.abortAt ?? options.terminateAt;
    if (stopAt !== undefined && accepted >= stopAt && accepted < total) {
      const terminate = options.terminateAt !== undefined;
      upload.abort(terminate).then(
        () => report({ outcome: terminate ? "terminated" : "aborted", url: upload.url,
                       acknowledged }),
        (error) => report({ outcome: "error", message: String(error), url: upload.url }));
    }
  },
  onSuccess() {
    report({ outcome: "success", url: upload.url, acknowledged, first: progress[0] ?? null });
  },
  onError(error) {
    const response = error.originalResponse;
    report({
      outcome: "error", message: String(error).split("\n")[0], url: upload.url,
      status: response ? response.getStatus() : null,
      body: response ? response.getBody() : null,
    });
  },
});
const progress = [];
const acknowledged = [];
upload.start();
