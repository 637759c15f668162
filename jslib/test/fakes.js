/**
 * Fakes that the tests drive by hand: a clock with timers, a WebSocket whose
 * server side the test plays, and files that hand out slices.
 */
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
  bufferedAmount = 0;
  /** @type {(string | ArrayBuffer)[]} everything the client sent, in order */
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

  /** @returns {ArrayBuffer[]} the binary messages the client sent */
  binaries() {
    return this.sent.filter((data) => data instanceof ArrayBuffer);
  }

  /** @returns {number} bytes the client sent in binary messages */
  bytesSent() {
    return this.binaries().reduce((total, bytes) => total + bytes.byteLength, 0);
  }
}

/**
 * A file of `size` zero bytes that records the slices read from it; its
 * ArrayBuffers are made on demand, so a test can "upload" gigabytes.
 */
export class FakeFile {
  /** @type {[number, number][]} */
  slices = [];

  constructor(size, name = 'fake.bin') {
    this.size = size;
    this.name = name;
  }

  slice(start, end) {
    this.slices.push([start, end]);
    return { arrayBuffer: async () => new ArrayBuffer(end - start) };
  }
}

/** Lets pending promise callbacks (file reads) run. */
export async function settle() {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A fake environment and a way to make uploaders in it. `sockets` lists every
 * socket the uploaders opened, in order.
 */
export function makeWorld({ random = () => 0.5 } = {}) {
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
  };

  /**
   * @param {Blob | FakeFile} file
   * @returns {{uploader: ReturnType<typeof Uploader>, calls: Record<string, number>, events: string[]}}
   *   the uploader, how often each on… callback was called, and the events dispatched in order
   */
  function uploaderFor(file, ticket = 'T1') {
    const uploader = Uploader(ticket, /** @type {Blob} */ (file), { url: 'ws://test/upload_ws', environment });
    const calls = { progress: 0, finished: 0, cancelled: 0, error: 0 };
    const events = [];
    for (const type of Object.keys(calls)) uploader[`on${type}`] = () => calls[type]++;
    for (const type of [...Object.keys(calls), 'statechange']) uploader.addEventListener(type, () => events.push(type));
    return { uploader, calls, events };
  }

  return { clock, sockets, environment, uploaderFor, lastSocket: () => sockets[sockets.length - 1] };
}
