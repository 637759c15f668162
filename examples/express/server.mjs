// A dynamic web app (Express) whose page uploads several files at once through Incoming!!.
//
// The page asks this backend for a ticket per file over AJAX (POST /api/tickets), uploads with
// incoming.js, and offers pause, resume and cancel for each upload. When a file is stored,
// Incoming!! calls /hooks/incoming: the backend checks the callback's signature, answers
// "wait", takes the file into its own storage (moving it, or downloading it from the object
// store), checks its SHA-256, and calls finish_upload with a result the page shows.
//
// Configuration from the environment (examples/express/run sets it all): INCOMING_URL
// (Incoming!!'s backend listener), INCOMING_API_KEY, INCOMING_SIGNING_KEY (whsec_…),
// BACKEND_SECRET, CALLBACK_URL (where Incoming!! reaches /hooks/incoming), MEDIA_DIR, PORT.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";

import express from "express";
import { Webhook } from "standardwebhooks";

const env = process.env;
const INCOMING_API = `${env.INCOMING_URL.replace(/\/$/, "")}/incoming/0.1/backend`;
const webhook = new Webhook(env.INCOMING_SIGNING_KEY);
const MEDIA = env.MEDIA_DIR;
const TICKET = /^[A-Za-z0-9_-]+$/; // URL-safe base64: nothing else names a file here

const taking = new Set(); // tickets whose file is being taken (a repeated callback starts none)
const cancelled = new Map(); // ticket → reason, as the backend heard it

// One backend API call, with the API key and this app's backendSecret; its JSON answer.
async function incoming(call, form) {
  const response = await fetch(`${INCOMING_API}/${call}`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${env.INCOMING_API_KEY}`,
      Accept: "application/json",
      "Incoming-Backend-Secret": env.BACKEND_SECRET,
    },
    body: new URLSearchParams(form),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${call}: ${response.status} ${answer.error?.message}`);
  return answer;
}

const app = express();
app.use(express.static(path.join(import.meta.dirname, "public")));

// -- what the page calls ------------------------------------------------------------------------

app.post("/api/tickets", async (request, response) => {
  const { id } = await incoming("new_upload", { signalFinishURL: env.CALLBACK_URL });
  response.json({ ticket: id });
});

app.get("/api/tickets/:ticket", async (request, response) => {
  response.json(await incoming("upload_status", { id: request.params.ticket }));
});

app.get("/api/files", (request, response) => {
  response.json({ stored: storedFiles(), cancelled: Object.fromEntries(cancelled) });
});

app.get("/files/:ticket", (request, response) => {
  const record = recordOf(request.params.ticket);
  if (!record) return response.sendStatus(404);
  response.download(path.join(MEDIA, record.ticket), record.name);
});

// -- the callback -------------------------------------------------------------------------------

app.post("/hooks/incoming", express.raw({ type: "*/*", limit: "64kb" }), (request, response) => {
  const raw = request.body.toString("utf8");
  try { // the raw body, before anything trusts it
    webhook.verify(raw, request.headers, { jsonParse: false });
  } catch {
    return response.status(401).send("not signed by Incoming!!");
  }
  const form = Object.fromEntries(new URLSearchParams(raw));
  if (!sameSecret(form.backendSecret ?? "", env.BACKEND_SECRET)) {
    return response.status(403).send("wrong backendSecret");
  }
  if (form.cancelled === "yes") {
    cancelled.set(form.id, form.cancelReason);
    console.log(`upload ${form.id.slice(0, 8)}… cancelled: ${form.cancelReason}`);
    return response.send("done");
  }
  const record = recordOf(form.id);
  if (record) return response.json({ state: "done", result: record }); // a repeated callback
  if (!taking.has(form.id)) {
    taking.add(form.id);
    takeFile(form).finally(() => taking.delete(form.id));
  }
  response.json({ state: "wait" });
});

function sameSecret(given, expected) {
  const [a, b] = [given, expected].map((s) => crypto.createHash("sha256").update(s).digest());
  return crypto.timingSafeEqual(a, b);
}

// Moves the file into MEDIA, checks it, and tells Incoming!! we are done (finish_upload).
async function takeFile(form) {
  const arriving = path.join(MEDIA, `.${form.id}.arriving`);
  try {
    if (form.bucket) await download(form.bucket, form.key, arriving);
    else await move(form.filename, arriving);
    const digest = await sha256Of(arriving);
    if (digest !== form.sha256) throw new Error(`SHA-256 ${digest} is not ${form.sha256}`);
    const record = { ticket: form.id, name: form.filenameFromBrowser, size: Number(form.size),
                     sha256: digest, url: `/files/${form.id}` };
    await fs.promises.rename(arriving, path.join(MEDIA, form.id));
    await fs.promises.writeFile(path.join(MEDIA, `${form.id}.json`), JSON.stringify(record));
    await incoming("finish_upload", { id: form.id, result: JSON.stringify(record) });
    console.log(`upload ${form.id.slice(0, 8)}… taken: ${record.name}, ${record.size} bytes`);
  } catch (error) {
    console.error(`could not take the file of ${form.id.slice(0, 8)}…:`, error);
  }
}

async function move(from, to) {
  try {
    await fs.promises.rename(from, to);
  } catch (error) {
    if (error.code !== "EXDEV") throw error; // another file system: copy, then remove
    await fs.promises.copyFile(from, to);
    await fs.promises.unlink(from);
  }
}

// The S3 storage's callback names an object (filename s3://BUCKET/KEY). The SDK finds endpoint
// and credentials as every AWS tool does (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …); install it
// with `npm install @aws-sdk/client-s3`. Not yet exercised by this example's test: it waits for
// Incoming!!'s S3 storage.
async function download(bucket, key, to) {
  const { S3Client, GetObjectCommand } = await import("@aws-sdk/client-s3");
  const s3 = new S3Client({ forcePathStyle: Boolean(env.AWS_ENDPOINT_URL) });
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  await pipeline(Body, fs.createWriteStream(to));
}

async function sha256Of(file) {
  const hash = crypto.createHash("sha256");
  for await (const block of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(block);
  }
  return hash.digest("hex");
}

function recordOf(ticket) {
  if (!TICKET.test(ticket)) return null;
  const file = path.join(MEDIA, `${ticket}.json`);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : null;
}

function storedFiles() {
  return fs.readdirSync(MEDIA).filter((name) => name.endsWith(".json")).sort()
    .map((name) => JSON.parse(fs.readFileSync(path.join(MEDIA, name), "utf8")));
}

app.listen(Number(env.PORT), "127.0.0.1", () => {
  console.log(`example app on http://127.0.0.1:${env.PORT}/ (behind nginx)`);
});
