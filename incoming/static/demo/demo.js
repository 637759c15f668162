// Incoming!! demo page: one ticket and one incoming.Uploader per file, and the list of
// files that arrived. Uses only the library's 0.1 API and the demo server's two endpoints.
'use strict';

(() => {
  /** How often the "Arrived" list is fetched. */
  const ARRIVED_POLL_MS = 2000;
  /** Speed is measured over this much recent time, so it follows changes without jumping about. */
  const SPEED_WINDOW_MS = 3000;
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

  /** @param {FileList} files */
  function addFiles(files) {
    for (const file of files) startUpload(new UploadRow(file));
  }

  /** @param {UploadRow} row */
  async function startUpload(row) {
    let ticket;
    try {
      ticket = await newTicket();
    } catch (error) {
      row.showProblem(`could not get a ticket: ${error.message}`);
      return;
    }
    const uploader = incoming.Uploader(ticket, row.file);
    row.attach(uploader);
    uploader.onfinished = () => refreshArrived();
    uploader.start();
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
      /** @type {{at: number, acked: number}[]} recent samples of bytes_acked, oldest first */
      this.samples = [];
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

    redraw() {
      const uploader = this.uploader;
      const over = uploader.finished || uploader.cancelled || uploader.error_code !== null;
      const remaining = uploader.bytes_total - uploader.bytes_acked;
      // Speed and time left are shown only while bytes flow: a pause or a reconnection starts a new measurement.
      const moving = uploader.connected && !uploader.paused && !uploader.cancelling && remaining > 0;
      if (!moving) this.samples.length = 0;
      const speed = moving ? this.measureSpeed(uploader.bytes_acked) : null;
      this.part('progress').value = uploader.frac_complete;
      this.part('.state').textContent = describeState(uploader);
      this.part('.speed').textContent = speed === null ? '' : `${(speed / 1e6).toFixed(1)} MB/s`;
      this.part('.eta').textContent = moving ? timeLeft(remaining, speed) : '';
      const pause = this.part('.pause');
      pause.textContent = uploader.paused ? 'Resume' : 'Pause';
      pause.setAttribute('aria-label', `${uploader.paused ? 'Resume' : 'Pause'} ${this.file.name}`);
      pause.disabled = uploader.paused ? over || uploader.cancelling : !uploader.can_pause;
      this.part('.cancel').disabled = !uploader.can_cancel;
      this.element.classList.toggle('finished', uploader.finished);
      this.element.classList.toggle('cancelled', uploader.cancelled);
      this.element.classList.toggle('failed', uploader.error_code !== null);
      if (over) activeRows.delete(this);
    }

    /**
     * @param {number} acked  bytes_acked now
     * @returns {number | null} bytes per second over the recent past, null until measurable
     */
    measureSpeed(acked) {
      const now = performance.now();
      const samples = this.samples;
      samples.push({ at: now, acked });
      while (samples.length > 2 && now - samples[1].at >= SPEED_WINDOW_MS) samples.shift();
      const oldest = samples[0];
      const seconds = (now - oldest.at) / 1000;
      return seconds < 0.5 ? null : (acked - oldest.acked) / seconds;
    }

    /** @param {string} message */
    showProblem(message) {
      this.part('.state').textContent = message;
      this.element.classList.add('failed');
    }
  }

  /** @param {ReturnType<typeof incoming.Uploader>} uploader */
  function describeState(uploader) {
    if (uploader.error_code !== null) return `error: ${uploader.error_msg}`;
    if (uploader.cancelled && uploader.cancel_msg) return `cancelled: ${uploader.cancel_msg}`;
    return uploader.state_msg;
  }

  /**
   * @param {number} remaining  bytes
   * @param {number | null} speed  bytes per second
   */
  function timeLeft(remaining, speed) {
    if (!speed) return 'time left unknown';
    const seconds = Math.ceil(remaining / speed);
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
