// Verifies one callback with the npm standardwebhooks package, as a Node.js backend would.
// stdin: {"key": "whsec_...", "payload": "<body>", "headers": {...}}; prints "ok" or the error
// and exits 0 or 1. The package lives in test/browser/node_modules (npm ci there).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(new URL("../browser/package.json", import.meta.url));
const { Webhook } = require("standardwebhooks");
const { key, payload, headers } = JSON.parse(readFileSync(0, "utf8"));
try {
  new Webhook(key).verify(payload, headers, { jsonParse: false });
  console.log("ok");
} catch (error) {
  console.log(`${error.name}: ${error.message}`);
  process.exit(1);
}
