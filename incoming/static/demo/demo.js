// Incoming!! demo page: one ticket and one incoming.Uploader per file, and the list of
// files that arrived. Uses only the library's public API and the demo server's two endpoints.
// A file picked again after a reload continues on its ticket (incoming.findResumable); where
// the File System Access API exists, files picked with it can continue after a browser restart.
'use strict';

(() => {
  /** How often the "Arrived" list is fetched. */
  const ARRIVED_POLL_MS = 2000;
  /** Rows are redrawn this often besides on events, for the reconnect countdown and a speed falling to 0. */
  const REDRAW_MS = 1000;

  const dropZone = document.getElementById('drop-zone');
  const fileInput = document.getElementById('file-input');
  const uploadList = document.getElementById('uploads');
  const rowTemplate = document.getElementById('upload-row');
  const arrivedTable = document.getElementById('arrived');
  const arrivedStatus = document.getElementById('arrived-status');

  /** @type {Set<UploadRow>} rows of uploads that are not over yet */
  const activeRows = new Set();

  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files);
    fileInput.value = ''; // so that choosing the same file again uploads it again
  });

  dropZone.addEventListener('dragenter', acceptDrag);
  dropZone.addEventListener('dragover', acceptDrag);
  dropZone.addEventListener('dragleave', (event) => {
    if (!dropZone.contains(event.relatedTarget)) dropZone.classList.remove('dragging');
  });
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('dragging');
    addFiles(event.dataTransfer.files);
  });
  // A file dropped beside the zone would make the browser leave the page and open it.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());

  /** @param {DragEvent} event */
  function acceptDrag(event) {
    if (!event.dataTransfer.types.includes('Files')) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    dropZone.classList.add('dragging');
  }

  /**
   * @param {Iterable<File>} files
   * @param {FileSystemFileHandle[]} [handles]  the files' handles, when picked with showOpenFilePicker
   */
  function addFiles(files, handles = []) {
    [...files].forEach((file, i) => offerOrStart(new UploadRow(file), handles[i] ?? null));
  }

  /**
   * A file with an unfinished upload in this browser: ask whether to continue it. Else upload it.
   *
   * @param {UploadRow} row
   * @param {FileSystemFileHandle | null} handle
   */
  async function offerOrStart(row, handle) {
    const found = await incoming.findResumable(row.file);
    if (!found) {
      startUpload(row, handle);
      return;
    }
    row.offerResume(found, {
      resume: () => startUpload(row, handle, found.ticket),
      restart: () => startUpload(row, handle),
    });
  }

  /**
   * @param {UploadRow} row
   * @param {FileSystemFileHandle | null} handle  kept until the upload ends, to continue after a restart
   * @param {string} [ticket]  an unfinished upload's ticket, to continue it
   */
  async function startUpload(row, handle, ticket) {
    if (!ticket) {
      try {
        ticket = await newTicket();
      } catch (error) {
        row.showProblem(`could not get a ticket: ${error.message}`);
        return;
      }
    }
    const uploader = incoming.Uploader(ticket, row.file);
    row.attach(uploader);
    uploader.onfinished = () => refreshArrived();
    if (handle) {
      void handleStore.put(ticket, handle);
      for (const type of ['finished', 'cancelled', 'error']) {
        uploader.addEventListener(type, () => handleStore.delete(ticket));
      }
    }
    uploader.start();
  }

  // -- continuing after a browser restart (File System Access API, Chromium) -----------------

  /** File handles of unfinished uploads, by ticket, in IndexedDB (handles survive a restart there). */
  const handleStore = {
    open() {
      this.db ??= new Promise((resolve, reject) => {
        const request = indexedDB.open('incoming-demo-handles', 1);
        request.onupgradeneeded = () => request.result.createObjectStore('handles');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      return this.db;
    },
    async run(mode, act) {
      const db = await this.open();
      return new Promise((resolve, reject) => {
        const transaction = db.transaction('handles', mode);
        const request = act(transaction.objectStore('handles'));
        transaction.oncomplete = () => resolve(request.result);
        transaction.onerror = () => reject(transaction.error);
      });
    },
    put(ticket, handle) { return this.run('readwrite', (store) => store.put(handle, ticket)).catch(() => {}); },
    delete(ticket) { return this.run('readwrite', (store) => store.delete(ticket)).catch(() => {}); },
    async all() {
      const [tickets, handles] = await Promise.all([
        this.run('readonly', (store) => store.getAllKeys()),
        this.run('readonly', (store) => store.getAll()),
      ]);
      return tickets.map((ticket, i) => ({ ticket, handle: handles[i] }));
    },
  };

  const pickHandlesButton = document.getElementById('pick-handles');
  const unfinishedList = document.getElementById('unfinished');

  if (typeof window.showOpenFilePicker === 'function') {
    pickHandlesButton.hidden = false;
    pickHandlesButton.addEventListener('click', async () => {
      let handles;
      try {
        handles = await window.showOpenFilePicker({ multiple: true });
      } catch {
        return; // the user closed the picker
      }
      addFiles(await Promise.all(handles.map((handle) => handle.getFile())), handles);
    });
    offerUnfinished();
  }

  /** Lists the uploads left unfinished by an earlier visit whose file handles are kept. */
  async function offerUnfinished() {
    let kept;
    try {
      kept = await handleStore.all();
    } catch {
      return;
    }
    for (const { ticket, handle } of kept) {
      const item = document.createElement('li');
      item.className = 'upload';
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `Continue uploading ${handle.name}`;
      const forget = document.createElement('button');
      forget.type = 'button';
      forget.className = 'secondary';
      forget.textContent = 'Forget it';
      item.append(button, ' ', forget);
      unfinishedList.append(item);
      forget.addEventListener('click', () => {
        void handleStore.delete(ticket);
        item.remove();
      });
      button.addEventListener('click', async () => {
        // The browser asks the user again for leave to read the file (a click is needed for that).
        if ((await handle.requestPermission({ mode: 'read' })) !== 'granted') return;
        let file;
        try {
          file = await handle.getFile();
        } catch (error) {
          button.textContent = `${handle.name} cannot be read any more: ${error.message}`;
          button.disabled = true;
          return;
        }
        item.remove();
        startUpload(new UploadRow(file), handle, ticket);
      });
    }
  }

  /** @returns {Promise<string>} a new ticket's ID from the demo server */
  async function newTicket() {
    const response = await fetch('/demo/api/new_ticket', { method: 'POST' });
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`);
    const { ticket } = await response.json();
    return ticket;
  }

  /** One file's row: its progress, speed, time left, state and buttons. */
  class UploadRow {
    /** @param {File} file */
    constructor(file) {
      this.file = file;
      /** @type {ReturnType<typeof incoming.Uploader> | null} */
      this.uploader = null;
      this.element = rowTemplate.content.firstElementChild.cloneNode(true);
      this.part('.name').textContent = file.name;
      this.part('.size').textContent = formatBytes(file.size);
      this.part('progress').setAttribute('aria-label', `Upload of ${file.name}`);
      this.part('.state').textContent = 'getting a ticket';
      this.part('.pause').setAttribute('aria-label', `Pause ${file.name}`);
      this.part('.cancel').setAttribute('aria-label', `Cancel ${file.name}`);
      uploadList.append(this.element);
    }

    /** @param {string} selector */
    part(selector) {
      return this.element.querySelector(selector);
    }

    /** @param {ReturnType<typeof incoming.Uploader>} uploader */
    attach(uploader) {
      this.uploader = uploader;
      activeRows.add(this);
      const redraw = () => this.redraw();
      for (const type of ['progress', 'statechange', 'finished', 'cancelled', 'error']) {
        uploader.addEventListener(type, redraw);
      }
      this.part('.pause').addEventListener('click', () => uploader.pause('toggle'));
      this.part('.cancel').addEventListener('click', () => uploader.cancel('cancelled on the demo page'));
      this.redraw();
    }

    /**
     * The same file has an unfinished upload: let the user choose.
     *
     * @param {{ticket: string, bytes_acked: number}} found
     * @param {{resume: () => void, restart: () => void}} choices
     */
    offerResume(found, { resume, restart }) {
      const stored = this.file.size ? Math.floor((100 * found.bytes_acked) / this.file.size) : 0;
      this.part('.state').textContent = `an earlier upload of this file stopped at ${stored} %`;
      this.part('progress').value = this.file.size ? found.bytes_acked / this.file.size : 0;
      const resumeButton = this.part('.resume');
      const restartButton = this.part('.restart');
      resumeButton.hidden = restartButton.hidden = false;
      const choose = (action) => () => {
        resumeButton.hidden = restartButton.hidden = true;
        action();
      };
      resumeButton.addEventListener('click', choose(resume), { once: true });
      restartButton.addEventListener('click', choose(restart), { once: true });
    }

    redraw() {
      const uploader = this.uploader;
      const failed = uploader.state_msg === 'error'; // error_code alone may be a retryable error being retried
      const over = uploader.finished || uploader.cancelled || failed;
      // Speed and time left are shown only while bytes flow.
      const moving = uploader.connected && !uploader.paused && !uploader.cancelling && uploader.bytes_acked < uploader.bytes_total;
      const speed = uploader.bytes_per_second;
      this.part('progress').value = uploader.frac_complete;
      this.part('.state').textContent = describeState(uploader);
      this.part('.speed').textContent = moving && speed > 0 ? `${(speed / 1e6).toFixed(1)} MB/s` : '';
      this.part('.eta').textContent = moving ? timeLeft(uploader.seconds_left) : '';
      const pause = this.part('.pause');
      pause.textContent = uploader.paused ? 'Resume' : 'Pause';
      pause.setAttribute('aria-label', `${uploader.paused ? 'Resume' : 'Pause'} ${this.file.name}`);
      pause.disabled = uploader.paused ? over || uploader.cancelling : !uploader.can_pause;
      this.part('.cancel').disabled = !uploader.can_cancel;
      this.element.classList.toggle('finished', uploader.finished);
      this.element.classList.toggle('cancelled', uploader.cancelled);
      this.element.classList.toggle('failed', failed);
      if (over) activeRows.delete(this);
    }

    /** @param {string} message */
    showProblem(message) {
      this.part('.state').textContent = message;
      this.element.classList.add('failed');
    }
  }

  /** @param {ReturnType<typeof incoming.Uploader>} uploader */
  function describeState(uploader) {
    if (uploader.state_msg === 'error') return `error: ${uploader.error_msg}`;
    if (uploader.cancelled && uploader.cancel_msg) return `cancelled: ${uploader.cancel_msg}`;
    // Retrying after a retryable error (the server restarting, its disk full): say why.
    if (uploader.error_code !== null) return `${uploader.state_msg} (${uploader.error_msg})`;
    return uploader.state_msg;
  }

  /** @param {number | null} secondsLeft  from the uploader; null until its rate is measured */
  function timeLeft(secondsLeft) {
    if (secondsLeft === null) return 'time left unknown';
    const seconds = Math.ceil(secondsLeft);
    if (seconds < 60) return `${seconds} s left`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${seconds % 60} s left`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
  }

  /** @param {number} bytes */
  function formatBytes(bytes) {
    if (bytes < 1e3) return `${bytes} B`;
    const units = ['kB', 'MB', 'GB', 'TB'];
    let value = bytes / 1e3;
    let unit = 0;
    while (value >= 1e3 && unit < units.length - 1) {
      value /= 1e3;
      unit++;
    }
    return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
  }

  let arrivedRefresh = null;

  /** Fetches and shows the arrived files now, then every ARRIVED_POLL_MS. */
  async function refreshArrived() {
    clearTimeout(arrivedRefresh);
    try {
      const response = await fetch('/demo/api/arrived', { cache: 'no-store' });
      if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`);
      const { files } = await response.json();
      showArrived(files);
    } catch (error) {
      arrivedStatus.textContent = `Could not fetch the list: ${error.message}`;
    }
    arrivedRefresh = setTimeout(refreshArrived, ARRIVED_POLL_MS);
  }

  /** @param {{filename: string, size: number, sha256: string, path: string, arrivedAt: string}[]} files  newest first */
  function showArrived(files) {
    const rows = files.map((file) => {
      const row = document.createElement('tr');
      const hash = document.createElement('code');
      hash.className = 'hash';
      hash.textContent = file.sha256.slice(0, 16) + '…';
      hash.title = file.sha256;
      const path = document.createElement('code');
      path.textContent = file.path;
      const time = document.createElement('time');
      time.dateTime = file.arrivedAt;
      time.textContent = new Date(file.arrivedAt).toLocaleString();
      row.append(
        cell(file.filename || '(no name)'),
        cell(formatBytes(file.size), 'number'),
        cell(hash),
        cell(path),
        cell(time),
      );
      return row;
    });
    arrivedTable.tBodies[0].replaceChildren(...rows);
    arrivedTable.hidden = files.length === 0;
    const count = `${files.length} ${files.length === 1 ? 'file has' : 'files have'} arrived.`;
    const text = files.length === 0 ? 'Nothing has arrived yet.' : count;
    // Only a change is written, so that screen readers announce news, not every poll.
    if (arrivedStatus.textContent !== text) arrivedStatus.textContent = text;
  }

  /**
   * @param {string | Node} content
   * @param {string} [className]
   */
  function cell(content, className) {
    const td = document.createElement('td');
    td.append(content);
    if (className) td.className = className;
    return td;
  }

  setInterval(() => {
    for (const row of activeRows) row.redraw();
  }, REDRAW_MS);
  refreshArrived();
})();
