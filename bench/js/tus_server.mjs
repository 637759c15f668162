// The tus peer: @tus/server with @tus/file-store, as its README sets it up, on loopback.
//
//   node js/tus_server.mjs --dir DIR [--port 0]
//
// Prints "LISTENING <port>" once it accepts connections, so the benchmark can use an ephemeral
// port. Runs until it is killed (the benchmark starts a fresh one per timed run, so that the
// process's peak RSS belongs to that run alone).
import http from "node:http";
import { parseArgs } from "node:util";
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const { values: args } = parseArgs({
  options: {
    dir: { type: "string" },
    port: { type: "string", default: "0" },
  },
});
if (!args.dir) {
  console.error("usage: tus_server.mjs --dir DIR [--port N]");
  process.exit(2);
}

const tus = new Server({
  path: "/files",
  datastore: new FileStore({ directory: args.dir }),
});
const server = http.createServer((req, res) => tus.handle(req, res));
server.listen({ host: "127.0.0.1", port: Number(args.port) }, () => {
  console.log(`LISTENING ${server.address().port}`);
});
