// A throwaway stand-in for the Incoming!! browser library, served by benchlib/standin.py only,
// so that the browser harness can be tried before the real library exists. Not the product:
// no reconnect, no pause, no cancel. It speaks docs/protocol.rst: hello → welcome, Blob-slice
// binary messages of chunkSize within the window, acks, states, finished.
"use strict";
(function () {
  let serverHost = location.host;
  function set_server_hostname(host) { serverHost = host; }

  function Uploader(ticket, file) {
    this.ticket = ticket;
    this.file = file;
    this.bytes_total = file.size;
    this.bytes_tx = 0;
    this.bytes_acked = 0;
    this.finished = false;
    this.onprogress = this.onfinished = this.oncancelled = this.onerror = null;
  }

  Uploader.prototype.start = function () {
    const self = this;
    const ws = new WebSocket(`ws://${serverHost}/incoming/0.1/frontend/upload_ws`);
    let chunkSize = 0, windowSize = 0;
    function call(name) { if (self[name]) self[name](self); }
    function pump() {
      while (self.bytes_tx < self.bytes_total &&
             self.bytes_tx + Math.min(chunkSize, self.bytes_total - self.bytes_tx) - self.bytes_acked <= windowSize) {
        const end = Math.min(self.bytes_tx + chunkSize, self.bytes_total);
        ws.send(self.file.slice(self.bytes_tx, end));
        self.bytes_tx = end;
      }
    }
    ws.onopen = () => ws.send(JSON.stringify(
      { type: "hello", ticket: self.ticket, size: self.bytes_total, filename: self.file.name }));
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "welcome") {
        chunkSize = msg.chunkSize; windowSize = msg.window;
        self.bytes_tx = self.bytes_acked = msg.offset;
        pump();
      } else if (msg.type === "ack") {
        self.bytes_acked = msg.offset;
        call("onprogress");
        pump();
      } else if (msg.type === "state" && msg.state === "finished") {
        self.finished = true;
        call("onfinished");
      } else if (msg.type === "error") {
        self.error_code = msg.code; self.error_msg = msg.message;
        call("onerror");
      }
    };
    ws.onclose = () => {
      if (!self.finished && !self.error_code) {
        self.error_code = 0; self.error_msg = "connection closed";
        call("onerror");
      }
    };
  };

  window.incoming = { set_server_hostname, Uploader };
})();
