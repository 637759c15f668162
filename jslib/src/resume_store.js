/**
 * What the page remembers of uploads that were started and not finished, so
 * that after a reload (or a browser restart) the same file continues on its
 * ticket instead of starting over: per file fingerprint, the ticket, the
 * server's URL and the last acknowledged offset. Kept in IndexedDB, else in
 * localStorage; where neither works, nothing is remembered and uploads work
 * as before.
 *
 * @typedef {{ticket: string, url: string | null, bytes_acked: number, savedAt: number}} ResumeRecord
 *
 * @typedef {object} KeyValueStorage  asynchronous, as IndexedDB is
 * @property {(key: string) => Promise<ResumeRecord | undefined>} get
 * @property {(key: string, value: ResumeRecord) => Promise<void>} set
 * @property {(key: string) => Promise<void>} delete
 */

const DATABASE = 'incoming-resume';
const OBJECT_STORE = 'uploads';
const LOCAL_STORAGE_PREFIX = 'incoming-resume:';

/**
 * What identifies a file the user picks again: its name, size and
 * modification time. A Blob made in the page has no name and no time, and
 * cannot be picked again: it gets no fingerprint and is not remembered.
 *
 * @param {Blob & {name?: string, lastModified?: number}} file
 * @returns {string | null}
 */
export function fileFingerprint(file) {
  if (typeof file?.name !== 'string' || typeof file.lastModified !== 'number') return null;
  return JSON.stringify([file.name, file.size, file.lastModified]);
}

/** Reads and writes resume records; every failure of the storage is swallowed (it is only a convenience). */
export class ResumeStore {
  /** @type {() => Promise<KeyValueStorage | null>} */
  #openStorage;
  /** @type {Promise<KeyValueStorage | null> | null} */
  #storage = null;
  /** Writes and deletes go one after another, so a late write never revives a forgotten upload. */
  #queue = Promise.resolve();

  /** @param {() => Promise<KeyValueStorage | null>} openStorage  called once, on first use */
  constructor(openStorage) {
    this.#openStorage = openStorage;
  }

  #storageOnce() {
    this.#storage ??= this.#openStorage().catch(() => null);
    return this.#storage;
  }

  /**
   * @param {(storage: KeyValueStorage) => Promise<unknown>} operation
   * @returns {Promise<void>} settles when done (never rejects)
   */
  #enqueue(operation) {
    this.#queue = this.#queue.then(async () => {
      const storage = await this.#storageOnce();
      if (storage) await operation(storage);
    }).catch(() => {});
    return this.#queue;
  }

  /**
   * @param {Blob} file
   * @param {{ticket: string, url: string | null, bytes_acked: number}} record
   * @param {number} savedAt  wall-clock milliseconds
   */
  remember(file, { ticket, url, bytes_acked }, savedAt) {
    const key = fileFingerprint(file);
    if (key === null) return Promise.resolve();
    return this.#enqueue((storage) => storage.set(key, { ticket, url, bytes_acked, savedAt }));
  }

  /**
   * Forgets the file's record if it is this ticket's (another uploader of the same file may
   * have taken its place since).
   *
   * @param {Blob} file
   * @param {string} ticket
   */
  forget(file, ticket) {
    const key = fileFingerprint(file);
    if (key === null) return Promise.resolve();
    return this.#enqueue(async (storage) => {
      if ((await storage.get(key))?.ticket === ticket) await storage.delete(key);
    });
  }

  /**
   * @param {Blob} file
   * @returns {Promise<ResumeRecord | null>} what is remembered of an unfinished upload of this file
   */
  async find(file) {
    const key = fileFingerprint(file);
    if (key === null) return null;
    await this.#queue; // after the writes already asked for
    try {
      const storage = await this.#storageOnce();
      const record = storage ? await storage.get(key) : undefined;
      return record && typeof record.ticket === 'string' ? record : null;
    } catch {
      return null;
    }
  }
}

/** @returns {Promise<KeyValueStorage | null>} IndexedDB where it opens, else localStorage, else none */
export async function openBrowserStorage() {
  try {
    return await openIndexedDb();
  } catch {
    return localStorageBacked();
  }
}

/** @returns {Promise<KeyValueStorage>} */
function openIndexedDb() {
  return new Promise((resolve, reject) => {
    const request = globalThis.indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(OBJECT_STORE);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error('IndexedDB blocked'));
    request.onsuccess = () => {
      const db = request.result;
      /**
       * @param {IDBTransactionMode} mode
       * @param {(store: IDBObjectStore) => IDBRequest} act
       */
      const run = (mode, act) => new Promise((done, fail) => {
        const transaction = db.transaction(OBJECT_STORE, mode);
        const result = act(transaction.objectStore(OBJECT_STORE));
        transaction.oncomplete = () => done(result.result);
        transaction.onerror = () => fail(transaction.error);
        transaction.onabort = () => fail(transaction.error);
      });
      resolve({
        get: (key) => run('readonly', (store) => store.get(key)),
        set: async (key, value) => { await run('readwrite', (store) => store.put(value, key)); },
        delete: async (key) => { await run('readwrite', (store) => store.delete(key)); },
      });
    };
  });
}

/** @returns {KeyValueStorage | null} */
function localStorageBacked() {
  /** @type {Storage | undefined} */
  let storage;
  try {
    storage = globalThis.localStorage; // reading it throws where cookies are blocked
  } catch {
    return null;
  }
  if (!storage) return null;
  return {
    get: async (key) => {
      const text = storage.getItem(LOCAL_STORAGE_PREFIX + key);
      return text === null ? undefined : JSON.parse(text);
    },
    set: async (key, value) => storage.setItem(LOCAL_STORAGE_PREFIX + key, JSON.stringify(value)),
    delete: async (key) => storage.removeItem(LOCAL_STORAGE_PREFIX + key),
  };
}

/** @type {ResumeStore | null} */
let pageStore = null;

/** @returns {ResumeStore} the page's store, shared by all its uploaders */
export function browserResumeStore() {
  pageStore ??= new ResumeStore(async () => (globalThis.indexedDB ? openBrowserStorage() : localStorageBacked()));
  return pageStore;
}

/**
 * incoming.findResumable(file): what this browser remembers of an upload of
 * this file that was started and has not ended.
 *
 * @param {Blob} file
 * @param {{store?: ResumeStore}} [options]  another store (for tests)
 * @returns {Promise<{ticket: string, bytes_acked: number, url: string | null} | null>}
 */
export async function findResumable(file, { store = browserResumeStore() } = {}) {
  const record = await store.find(file);
  return record && { ticket: record.ticket, bytes_acked: record.bytes_acked, url: record.url };
}
