// Serves the browser benchmark's page and is the bare-WebSocket sink that discards.
//
//   node js/page_server.mjs
//
// GET /            page.html          GET /page.js      page.js
// GET /tus.min.js  tus-js-client's browser build from node_modules
// WS  /sink        counts the bytes of binary messages and drops them; on the text message
//                  "done?" answers {"received": <bytes so far>}
// Prints "LISTENING <port>" (an ephemeral loopback port) when ready.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";

const here = path.dirname(fileURLToPath(import.meta.url));
const files = {
  "/": [path.join(here, "page.html"), "text/html"],
  "/page.js": [path.join(here, "page.js"), "text/javascript"],
  "/tus.min.js": [path.join(here, "..", "node_modules", "tus-js-client", "dist", "tus.min.js"),
    "text/javascript"],
};

const server = http.createServer((req, res) => {
  const entry = files[new URL(req.url, "http://x").pathname];
  if (!entry) {
    res.writeHead(404).end("not here\n");
    return;
  }
  res.writeHead(200, { "Content-Type": entry[1], "Cache-Control": "no-store" });
  fs.createReadStream(entry[0]).pipe(res);
});

// maxPayload: the page sends 1 MiB messages; allow larger in case a run asks for them.
const sink = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
sink.on("connection", (ws) => {
  let received = 0;
  ws.on("message", (data, isBinary) => {
    if (isBinary) received += data.length;
    else ws.send(JSON.stringify({ received }));
  });
});
server.on("upgrade", (req, socket, head) => {
  if (new URL(req.url, "http://x").pathname !== "/sink") {
    socket.destroy();
    return;
  }
  sink.handleUpgrade(req, socket, head, (ws) => sink.emit("connection", ws, req));
});

server.listen({ host: "127.0.0.1", port: 0 }, () => {
  console.log(`LISTENING ${server.address().port}`);
});
