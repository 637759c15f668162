// Several uploads at once, each with its own ticket (fetched over AJAX) and its own row with
// pause/resume and cancel. window.uploads lists them (for people poking around, and the tests).
"use strict";

window.uploads = [];

document.getElementById("files").addEventListener("change", async (event) => {
  const files = [...event.target.files];
  event.target.value = "";
  await Promise.all(files.map(startUpload));
});

async function newTicket() {
  const response = await fetch("/api/tickets", { method: "POST" });
  if (!response.ok) throw new Error(`no ticket: ${response.status}`);
  return (await response.json()).ticket;
}

async function startUpload(file) {
  const row = addRow(file.name, window.uploads.length);
  const entry = { name: file.name, ticket: null, uploader: null, row };
  window.uploads.push(entry); // in the order picked, before the tickets arrive
  entry.ticket = await newTicket();
  const uploader = incoming.Uploader(entry.ticket, file);
  entry.uploader = uploader;
  const [progress, state, pause, cancel] =
    ["progress", ".state", ".pause", ".cancel"].map((selector) => row.querySelector(selector));

  const show = () => {
    progress.value = uploader.frac_complete;
    state.textContent = uploader.state_msg;
    pause.textContent = uploader.paused ? "Resume" : "Pause";
    pause.disabled = !uploader.can_pause;
    cancel.disabled = !uploader.can_cancel;
  };
  uploader.onprogress = show;
  uploader.addEventListener("statechange", show);
  pause.onclick = () => { uploader.pause("toggle"); show(); };
  cancel.onclick = () => { uploader.cancel("cancelled in the page"); show(); };
  // The backend's result (its finish_upload) arrives before onfinished.
  uploader.onfinished = (u) => {
    state.innerHTML = "";
    const link = Object.assign(document.createElement("a"),
      { href: u.result.url, textContent: `stored (${u.result.size} bytes)` });
    state.append(link);
    listStored();
  };
  uploader.oncancelled = (u) => { state.textContent = `cancelled: ${u.cancel_msg}`; };
  uploader.onerror = (u) => { state.textContent = `failed (${u.error_code}): ${u.error_msg}`; };
  uploader.start();
  show();
}

function addRow(name, index) {
  const row = document.createElement("tr");
  row.id = `upload-${index}`;
  row.innerHTML = `<td class="name"></td><td><progress max="1" value="0"></progress></td>
    <td class="state"></td>
    <td><button class="pause">Pause</button> <button class="cancel">Cancel</button></td>`;
  row.querySelector(".name").textContent = name;
  document.querySelector("#uploads tbody").append(row);
  return row;
}

async function listStored() {
  const { stored } = await (await fetch("/api/files")).json();
  const list = document.getElementById("stored");
  list.replaceChildren(...stored.map((file) => {
    const item = document.createElement("li");
    item.append(Object.assign(document.createElement("a"), { href: file.url, textContent: file.name }),
      ` (${file.size} bytes, SHA-256 ${file.sha256.slice(0, 16)}…)`);
    return item;
  }));
}

listStored();
