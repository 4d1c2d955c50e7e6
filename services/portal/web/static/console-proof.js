// Checks an audit entry's inclusion proof and its checkpoint's signature in the browser itself, with
// Web Crypto (SHA-256, Ed25519): RFC 9162 2.1.3.2, step for step, as consentry_client.audit_verify does.
// Everything it checks is in the page's #proof element; it fetches nothing.
(function () {
  "use strict";
  const box = document.getElementById("proof");
  const button = document.getElementById("check-proof");
  const verdict = document.getElementById("proof-verdict");
  if (!box || !button || !window.crypto || !window.crypto.subtle) return;

  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const sha256 = async (data) => new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  async function rootFromProof(leaf, index, size, proof) {
    if (index >= size) return null;
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) return null;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }

  async function publicKey(pem) {
    const der = bytes(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));
    return crypto.subtle.importKey("spki", der, { name: "Ed25519" }, false, ["verify"]);
  }

  async function check() {
    const d = box.dataset;
    const note = bytes(d.note);
    const lines = new TextDecoder().decode(note).split("\n");
    const size = Number(d.size);
    let key;
    try { key = await publicKey(d.key); } catch (e) { return ["unsupported", d.unsupported]; }
    const signed = await crypto.subtle.verify({ name: "Ed25519" }, key, bytes(d.signature), note);
    if (!signed) return ["bad", d.badSignature];
    if (Number(lines[1]) !== size) return ["bad", d.badProof];
    const proof = d.proof ? d.proof.split(" ").map(bytes) : [];
    const root = await rootFromProof(await leafHash(bytes(d.entry)), Number(d.leaf), size, proof);
    return root && equal(root, bytes(lines[2])) ? ["ok", d.ok] : ["bad", d.badProof];
  }

  button.hidden = false;
  button.addEventListener("click", async () => {
    verdict.textContent = "";
    let result;
    try {
      result = await check();
    } catch (e) {
      result = ["bad", box.dataset.badProof];
    }
    verdict.dataset.result = result[0];
    verdict.className = result[0] === "ok" ? "verdict-ok" : "verdict-bad";
    verdict.textContent = result[1];
  });
})();
