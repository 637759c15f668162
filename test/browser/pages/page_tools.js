// What the browser tests' pages share: loading a script, making a file, hashing it, waiting.
"use strict";

function loadScript(url) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${url}`));
    document.head.appendChild(script);
  });
}

// Random bytes, built in 1 MiB parts so the page never holds a second copy while building.
function makeFile(size, name) {
  const parts = [];
  for (let at = 0; at < size; at += 1 << 20) {
    const part = new Uint8Array(Math.min(1 << 20, size - at));
    for (let i = 0; i < part.length; i += 65536) {
      crypto.getRandomValues(part.subarray(i, Math.min(i + 65536, part.length)));
    }
    parts.push(part);
  }
  return new File(parts, name, { type: "application/octet-stream" });
}

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
