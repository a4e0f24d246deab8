// Where a device keeps its keys: IndexedDB, which stores CryptoKey objects as they are (a
// non-extractable key stays non-extractable). One database per signed-in account on this browser.

const STORES = ["identity", "outbound", "inbound"];

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class KeyStore {
  constructor(userId) {
    this.name = `mentalverse-keys-${userId}`;
    this.db = null;
  }

  async open() {
    if (this.db) return this.db;
    const req = indexedDB.open(this.name, 1);
    req.onupgradeneeded = () => {
      for (const store of STORES) if (!req.result.objectStoreNames.contains(store)) req.result.createObjectStore(store);
    };
    this.db = await request(req);
    return this.db;
  }

  async get(store, key) {
    const db = await this.open();
    return request(db.transaction(store).objectStore(store).get(key));
  }

  async put(store, key, value) {
    const db = await this.open();
    const tx = db.transaction(store, "readwrite");
    tx.objectStore(store).put(value, key);
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
  }
}
