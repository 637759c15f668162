/**
 * Fakes that the tests drive by hand: a clock with timers, a WebSocket whose
 * server side the test plays, and files that hand out Blob-like slices.
 */
import { ResumeStore } from '../src/resume_store.js';
import { Uploader } from '../src/uploader.js';

export const MiB = 1024 * 1024;

/** A clock that only moves when the test says so. */
export class FakeClock {
  time = 0;
  /** @type {{id: number, at: number, callback: () => void}[]} */
  timers = [];
  #nextId = 1;

  now = () => this.time;

  setTimeout = (callback, ms) => {
    const id = this.#nextId++;
    this.timers.push({ id, at: this.time + ms, callback });
    return id;
  };

  clearTimeout = (id) => {
    this.timers = this.timers.filter((timer) => timer.id !== id);
  };

  /** Moves time forward, running every timer that falls due on the way, in order. */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.time = due.at;
      due.callback();
    }
    this.time = end;
  }

  /** @returns {number[]} delays from now of the pending timers */
  pendingDelays() {
    return this.timers.map((timer) => timer.at - this.time);
  }
}

/** A WebSocket whose server side is played by the test. */
export class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 3;

  readyState = FakeSocket.CONNECTING;
  binaryType = 'blob';
  /**
   * Bytes handed to send() that the "browser" has not yet put on the network:
   * every message adds its size, as in a browser (a Blob counts as soon as it is
   * queued, before it is read); only drain() lowers it.
   */
  bufferedAmount = 0;
  /** @type {(string | Blob | FakeBlob)[]} everything the client sent, in order */
  sent = [];
  /** @type {{code?: number} | null} set when the client closed the socket */
  closedByClient = null;
  onopen = null;
  onmessage = null;
  onclose = null;

  /** @param {string} url */
  constructor(url) {
    this.url = url;
  }

  send(data) {
    if (this.readyState !== FakeSocket.OPEN) throw new Error(`send() on a socket in state ${this.readyState}`);
    this.sent.push(data);
    this.bufferedAmount += typeof data === 'string' ? new TextEncoder().encode(data).length : data.size;
  }

  /** The browser puts `bytes` (all, by default) of the send buffer on the network. */
  drain(bytes = this.bufferedAmount) {
    this.bufferedAmount -= Math.min(bytes, this.bufferedAmount);
  }

  close(code) {
    this.closedByClient = { code };
    this.readyState = FakeSocket.CLOSED;
  }

  // The server's side.

  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.({});
  }

  receive(message) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  welcome({ offset = 0, chunkSize = 4, window = 16, state = 'uploading' } = {}) {
    this.receive({ type: 'welcome', offset, chunkSize, window, state });
  }

  ack(offset) {
    this.receive({ type: 'ack', offset });
  }

  state(state) {
    this.receive({ type: 'state', state });
  }

  error(code, message = `error ${code}`, state = 'uploading') {
    this.receive({ type: 'error', code, message, state });
    this.drop(4000 + code);
  }

  drop(code = 1006, reason = '') {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason });
  }

  /** @returns {object[]} the text messages the client sent, parsed */
  texts() {
    return this.sent.filter((data) => typeof data === 'string').map((data) => JSON.parse(data));
  }

  /** @returns {string[]} the types of the text messages the client sent */
  textTypes() {
    return this.texts().map((message) => message.type);
  }

  /** @returns {(Blob | FakeBlob)[]} the binary messages the client sent: Blobs, as a browser reads them only to send them */
  binaries() {
    return this.sent.filter((data) => typeof data !== 'string');
  }

  /** @returns {number} bytes the client sent in binary messages */
  bytesSent() {
    return this.binaries().reduce((total, blob) => total + blob.size, 0);
  }

  /** @returns {[number, number][]} the file range ([start, end)) of each binary message, for FakeFile uploads */
  ranges() {
    return this.binaries().map((blob) => [/** @type {FakeBlob} */ (blob).start, /** @type {FakeBlob} */ (blob).end]);
  }
}

/** Clamps a Blob.slice() argument as browsers do: negative counts from the end. */
function clamp(position, size) {
  return position < 0 ? Math.max(size + position, 0) : Math.min(position, size);
}

/**
 * The part [start, end) of a FakeFile, as `Blob.slice()` makes it. Its
 * ArrayBuffer (zero bytes) is made only when read, so a test can "upload"
 * gigabytes; reads go through the file, which records them and may fail them.
 */
export class FakeBlob {
  /**
   * @param {FakeFile} file
   * @param {number} start
   * @param {number} end
   */
  constructor(file, start, end) {
    this.file = file;
    this.start = start;
    this.end = end;
  }

  get size() {
    return this.end - this.start;
  }

  slice(start = 0, end = this.size) {
    const from = clamp(start, this.size);
    return new FakeBlob(this.file, this.start + from, this.start + Math.max(from, clamp(end, this.size)));
  }

  async arrayBuffer() {
    return this.file.read(this.start, this.end);
  }
}

/**
 * A file of `size` zero bytes. It records the slices made of it directly and
 * the reads of any slice; a test can make it unreadable or shorter on disk.
 */
export class FakeFile extends FakeBlob {
  /** @type {[number, number][]} slice() calls on the file itself */
  slices = [];
  /** @type {[number, number][]} ranges read into memory, through any slice */
  reads = [];
  /** @type {Error | null} what reading throws, once the file is gone */
  readError = null;
  /** How many bytes are on disk: reads stop there, as when the file was shortened. */
  bytesOnDisk;

  constructor(size, name = 'fake.bin', lastModified = 1_700_000_000_000) {
    super(/** @type {any} */ (null), 0, size);
    this.file = this;
    this.name = name;
    this.lastModified = lastModified;
    this.bytesOnDisk = size;
  }

  slice(start, end) {
    const blob = super.slice(start, end);
    this.slices.push([blob.start, blob.end]);
    return blob;
  }

  /**
   * @param {number} start
   * @param {number} end
   */
  read(start, end) {
    this.reads.push([start, end]);
    if (this.readError) throw this.readError;
    return new ArrayBuffer(Math.max(0, Math.min(end, this.bytesOnDisk) - start));
  }
}

/** A hashFile() whose jobs the test finishes by hand, as a Worker would. */
export class FakeHasher {
  /** @type {{blob: Blob, resolve: (hex: string) => void, reject: (error: Error) => void}[]} */
  jobs = [];

  hashFile = (blob) => new Promise((resolve, reject) => this.jobs.push({ blob, resolve, reject }));

  /** Finishes the latest job with `hex`. */
  finish(hex = DIGEST_A) {
    this.jobs[this.jobs.length - 1].resolve(hex);
  }
}

export const DIGEST_A = 'a'.repeat(64);
export const DIGEST_B = 'b'.repeat(64);

/** The storage behind a ResumeStore, as a Map the test can look into. */
export class MemoryStorage {
  /** @type {Map<string, object>} */
  map = new Map();
  /** @type {string[]} 'set KEY' and 'delete KEY', in order */
  log = [];
  get = async (key) => this.map.get(key);
  set = async (key, value) => {
    this.log.push(`set ${key}`);
    this.map.set(key, structuredClone(value));
  };
  delete = async (key) => {
    this.log.push(`delete ${key}`);
    this.map.delete(key);
  };
}

/** @returns {{store: ResumeStore, storage: MemoryStorage}} */
export function memoryResumeStore() {
  const storage = new MemoryStorage();
  return { store: new ResumeStore(async () => storage), storage };
}

/**
 * Plays a link of `bytesPerSecond`: acknowledges everything sent, each time
 * as much later as that link would take, until the uploader has measured at
 * least half that rate.
 */
export async function warmUp(world, ws, uploader, bytesPerSecond) {
  for (let step = 0; step < 10_000 && uploader.bytes_per_second < bytesPerSecond / 2; step++) {
    const sent = uploader.bytes_tx;
    world.clock.advance(((sent - uploader.bytes_acked) * 1000) / bytesPerSecond);
    ws.drain();
    ws.ack(sent);
    await settle();
  }
  if (uploader.bytes_per_second < bytesPerSecond / 2) throw new Error('the rate did not come up');
}

/** Lets pending promise callbacks (file reads) run. */
export async function settle() {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A fake environment and a way to make uploaders in it. `sockets` lists every
 * socket the uploaders opened, in order.
 */
export function makeWorld({ random = () => 0.5, hasher = null, store = null } = {}) {
  const clock = new FakeClock();
  /** @type {FakeSocket[]} */
  const sockets = [];
  const environment = {
    WebSocket: class extends FakeSocket {
      constructor(url) {
        super(url);
        sockets.push(this);
      }
    },
    now: clock.now,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random,
    hashFile: hasher?.hashFile,
    resumeStore: store,
  };

  /**
   * @param {Blob | FakeFile} file
   * @returns {{uploader: ReturnType<typeof Uploader>, calls: Record<string, number>, events: string[]}}
   *   the uploader, how often each on… callback was called, and the events dispatched in order
   */
  function uploaderFor(file, ticket = 'T1', options = {}) {
    const uploader = Uploader(ticket, /** @type {Blob} */ (file), { url: 'ws://test/upload_ws', environment, ...options });
    const calls = { progress: 0, finished: 0, cancelled: 0, error: 0 };
    const events = [];
    for (const type of Object.keys(calls)) uploader[`on${type}`] = () => calls[type]++;
    for (const type of [...Object.keys(calls), 'statechange']) uploader.addEventListener(type, () => events.push(type));
    return { uploader, calls, events };
  }

  return { clock, sockets, environment, uploaderFor, lastSocket: () => sockets[sockets.length - 1] };
}
