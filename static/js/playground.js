/* Signet playground: progressive enhancement of widgets/playground.py's page.
 *
 *  - Tabs switch in place (they are plain links without script).
 *  - Sign: payload templates and iat/exp/jti helpers edit the textarea in place,
 *    so what you see is exactly what is signed.
 *  - Test keys: an ECDSA P-256 key pair made with WebCrypto. The private key never
 *    leaves the browser: it signs here (crypto.subtle.sign gives raw R‖S, the JWS
 *    format), can be downloaded as PEM right after it is made, and is kept as a
 *    NON-extractable CryptoKey in IndexedDB so that it survives the Verify hand-off
 *    (“Forget this key” deletes it). Only the public PEM is ever sent to the server.
 *  - No inline script anywhere (CSP script-src 'self'); page data comes from the
 *    <script type="application/json" id="pg-data"> block.
 */
(function () {
  "use strict";

  var data = {};
  var record = null; // {privateKey: CryptoKey, publicPem, kid, fingerprint, created}
  var exported = null; // {privatePem} only in the page where the key was made
  var blobUrls = [];

  function $(id) { return document.getElementById(id); }
  function all(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }

  // --- bytes and text ---------------------------------------------------------------

  function utf8(text) { return new TextEncoder().encode(text); }

  function b64(bytes) {
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return window.btoa(binary);
  }

  function b64url(bytes) { return b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); }

  function pem(label, buffer) {
    var body = b64(new Uint8Array(buffer)).replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
    return "-----BEGIN " + label + "-----\n" + body + "\n-----END " + label + "-----\n";
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // Keys made before fingerprints lost their colons are still in this browser's storage.
  function sameFingerprint(a, b) {
    return String(a).replace(/:/g, "") === String(b).replace(/:/g, "");
  }

  function setStatus(element, text, tone) {
    if (!element) return;
    element.textContent = text;
    if (tone) element.setAttribute("data-tone", tone); else element.removeAttribute("data-tone");
  }

  // --- IndexedDB: one test key per tenant, stored as a non-extractable CryptoKey -------

  var DB_NAME = "signet-playground";

  function withStore(mode, action) {
    return new Promise(function (resolve, reject) {
      if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
      var open = window.indexedDB.open(DB_NAME, 1);
      open.onupgradeneeded = function () { open.result.createObjectStore("keys"); };
      open.onerror = function () { reject(open.error); };
      open.onsuccess = function () {
        var db = open.result;
        var tx = db.transaction("keys", mode);
        var request = action(tx.objectStore("keys"));
        tx.oncomplete = function () { db.close(); resolve(request && request.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      };
    });
  }

  function slot() { return "tenant:" + data.tenant; }
  function storeKey(value) { return withStore("readwrite", function (s) { return s.put(value, slot()); }); }
  function loadKey() { return withStore("readonly", function (s) { return s.get(slot()); }); }
  function deleteKey() { return withStore("readwrite", function (s) { return s.delete(slot()); }); }

  // --- tabs -------------------------------------------------------------------------

  function showTab(name, push) {
    all("[data-pg-panel]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-pg-panel") !== name;
    });
    all("[data-pg-tab]").forEach(function (link) {
      if (link.getAttribute("data-pg-tab") === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
    var tabInput = $("pg-widget-tab");
    if (tabInput) tabInput.value = name;
    if (push && window.history && window.history.replaceState) {
      var query = "?tab=" + encodeURIComponent(name) + (data.widget ? "&widget=" + encodeURIComponent(data.widget) : "");
      window.history.replaceState(null, "", window.location.pathname + query);
    }
  }

  function setUpTabs() {
    all("[data-pg-tab]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        showTab(link.getAttribute("data-pg-tab"), true);
      });
    });
    // The widget select does not submit on change (arrow keys would reload the page on
    // every step, WCAG 3.2.2); “Use this widget” does.
  }

  // --- payload templates and helpers --------------------------------------------------

  function now() { return Math.floor(Date.now() / 1000); }

  function newJti() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return b64url(window.crypto.getRandomValues(new Uint8Array(16)));
  }

  function pretty(value) { return JSON.stringify(value, null, 2); }

  function template(kind) {
    var value = JSON.parse((data.templates || {})[kind] || "[]");
    if (value && !Array.isArray(value) && typeof value === "object") {
      value.iat = now();
      value.exp = now() + (data.lifetime || 600);
      value.jti = newJti();
    }
    return pretty(value);
  }

  function setUpPayloadTools() {
    var area = $("pg-payload");
    var status = $("pg-payload-status");
    if (!area) return;
    all("[data-pg-template]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        area.value = template(button.getAttribute("data-pg-template"));
        setStatus(status, "Template loaded: " + button.textContent + ".", "ok");
      });
    });
    all("[data-pg-helper]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        var value;
        try { value = JSON.parse(area.value); } catch (e) {
          setStatus(status, "The payload is not valid JSON yet: " + e.message, "bad");
          return;
        }
        if (!value || Array.isArray(value) || typeof value !== "object") {
          setStatus(status, "A fields array has no iat, exp or jti; load the claims template to use them.", "bad");
          return;
        }
        var helper = button.getAttribute("data-pg-helper");
        if (helper === "set-iat") value.iat = now();
        if (helper === "set-exp") value.exp = now() + (data.lifetime || 600);
        if (helper === "set-jti") value.jti = newJti();
        area.value = pretty(value);
        setStatus(status, button.textContent + ": done.", "ok");
      });
    });
  }

  // --- key source ----------------------------------------------------------------------

  function keySource() {
    var checked = document.querySelector('input[name="key_source"]:checked');
    return checked ? checked.value : "paste";
  }

  function showSource() {
    var source = keySource();
    all("[data-pg-source]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-pg-source") !== source;
    });
  }

  function setUpKeySource() {
    all('input[name="key_source"]').forEach(function (radio) { radio.addEventListener("change", showSource); });
    if (!(window.crypto && window.crypto.subtle && window.isSecureContext)) {
      var browser = document.querySelector('input[name="key_source"][value="browser"]');
      var paste = document.querySelector('input[name="key_source"][value="paste"]');
      if (browser) browser.disabled = true;
      if (paste) paste.checked = true;
      setStatus($("pg-key-status"), "This page is not a secure context (HTTPS or localhost), so the browser cannot make keys here; paste a private key instead.", "bad");
    }
    showSource();
  }

  // --- browser test keys ------------------------------------------------------------------

  function registeredKey() {
    if (!record) return null;
    return (data.keys || []).filter(function (k) { return sameFingerprint(k.fingerprint, record.fingerprint); })[0] || null;
  }

  function link(id, text, filename) {
    var a = $(id);
    if (!a) return;
    if (!text) { a.hidden = true; a.removeAttribute("href"); return; }
    var url = URL.createObjectURL(new Blob([text], { type: "application/x-pem-file" }));
    blobUrls.push(url);
    a.href = url;
    a.setAttribute("download", filename);
    a.hidden = false;
  }

  function renderKey() {
    var status = $("pg-key-status");
    var facts = $("pg-key-facts");
    var register = $("pg-register");
    var forget = $("pg-forget");
    var note = $("pg-key-storage-note");
    blobUrls.forEach(function (u) { URL.revokeObjectURL(u); });
    blobUrls = [];
    if (!record) {
      if (facts) facts.hidden = true;
      if (register) register.hidden = true;
      if (forget) forget.hidden = true;
      if (note) note.hidden = true;
      link("pg-dl-public", null);
      link("pg-dl-private", null);
      $("pg-generate").textContent = "Generate a test key pair";
      if (window.crypto && window.crypto.subtle && window.isSecureContext) {
        setStatus(status, "No test key in this browser yet.");
      }
      return;
    }
    var known = registeredKey();
    facts.hidden = false;
    $("pg-key-kid").textContent = known ? known.kid : record.kid;
    $("pg-key-fp").textContent = record.fingerprint;
    $("pg-key-registered").textContent = known
      ? "Registered as " + known.kid + " (" + known.status + (known.test ? ", test key" : "") + ")"
      : "Not registered: tokens signed with it fail with unknown_key until you register it.";
    if (register) register.hidden = !!known;
    if (forget) forget.hidden = false;
    if (note) note.hidden = false;
    $("pg-generate").textContent = "Replace with a new key pair";
    link("pg-dl-public", record.publicPem, "signet-test-public.pem");
    link("pg-dl-private", exported ? exported.privatePem : null, "signet-test-private.pem");
    setStatus(status, known ? "Test key ready and registered on " + data.widgetName + "." : "Test key ready (ES256, P-256).", known ? "ok" : null);
    var kidInput = $("pg-kid");
    if (kidInput && !kidInput.value) kidInput.placeholder = known ? known.kid : record.kid;
  }

  async function generate() {
    var status = $("pg-key-status");
    setStatus(status, "Generating…");
    try {
      var algorithm = { name: "ECDSA", namedCurve: "P-256" };
      var pair = await window.crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
      var spki = await window.crypto.subtle.exportKey("spki", pair.publicKey);
      var pkcs8 = await window.crypto.subtle.exportKey("pkcs8", pair.privateKey);
      var jwk = await window.crypto.subtle.exportKey("jwk", pair.publicKey);
      // RFC 7638 thumbprint: the kid Signet gives a key registered without one.
      var canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
      var thumb = await window.crypto.subtle.digest("SHA-256", utf8(canonical));
      var digest = await window.crypto.subtle.digest("SHA-256", spki);
      // What is kept can sign but can never be read back, not even by script on this page.
      var stored = await window.crypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]);
      record = {
        privateKey: stored,
        publicPem: pem("PUBLIC KEY", spki),
        kid: b64url(new Uint8Array(thumb)),
        fingerprint: hex(digest),
        created: Date.now()
      };
      exported = { privatePem: pem("PRIVATE KEY", pkcs8) };
      try { await storeKey(record); } catch (e) { /* private browsing: the key lives until the page closes */ }
      var kidInput = $("pg-kid");
      if (kidInput) kidInput.value = "";
      renderKey();
      setStatus(status, "New test key pair made in this browser. Register its public half, then sign.", "ok");
    } catch (e) {
      setStatus(status, "The browser could not make a key: " + e.message, "bad");
    }
  }

  async function register() {
    var status = $("pg-key-status");
    var button = $("pg-register");
    if (!record) return;
    button.disabled = true;
    setStatus(status, "Registering the public key…");
    var form = new FormData();
    var csrf = document.querySelector("#pg-sign-form input[name=csrfmiddlewaretoken]");
    form.append("csrfmiddlewaretoken", csrf ? csrf.value : "");
    form.append("mode", "register_test_key");
    form.append("widget", data.widget);
    form.append("public_key", record.publicPem); // the public half only
    try {
      var response = await fetch(window.location.pathname, {
        method: "POST", body: form, credentials: "same-origin", headers: { Accept: "application/json" }
      });
      var body = await response.json();
      if (!response.ok) {
        setStatus(status, (body.error && body.error.message) || "The key was not registered.", "bad");
        return;
      }
      data.keys = (data.keys || []).concat([{ kid: body.kid, fingerprint: body.fingerprint, status: "active", test: true }]);
      var count = $("pg-key-count");
      if (count) count.textContent = data.keys.length + (data.keys.length === 1 ? " key" : " keys") + " registered";
      renderKey();
      setStatus(status, "Registered on " + data.widgetName + " as test key " + body.kid + ". Now sign.", "ok");
    } catch (e) {
      setStatus(status, "The key was not registered: " + e.message, "bad");
    } finally {
      button.disabled = false;
    }
  }

  async function forget() {
    record = null;
    exported = null;
    try { await deleteKey(); } catch (e) { /* nothing stored */ }
    renderKey();
    setStatus($("pg-key-status"), "The test key was deleted from this browser.", "ok");
  }

  function setUpKeys() {
    var generateButton = $("pg-generate");
    if (!generateButton) return;
    generateButton.addEventListener("click", generate);
    if ($("pg-register")) $("pg-register").addEventListener("click", register);
    $("pg-forget").addEventListener("click", forget);
    loadKey().then(function (value) {
      if (value && value.privateKey && value.publicPem) { record = value; }
      renderKey();
    }, function () { renderKey(); });
  }

  // --- signing in the browser ---------------------------------------------------------------

  async function signInBrowser() {
    var status = $("pg-sign-status");
    if (!record) { setStatus(status, "Generate a test key pair first (or choose “Paste a private key”).", "bad"); return; }
    var payload;
    try { payload = JSON.parse($("pg-payload").value); } catch (e) {
      setStatus(status, "The payload is not valid JSON: " + e.message, "bad");
      $("pg-payload").focus();
      return;
    }
    var alg = $("pg-alg").value || "ES256";
    if (alg !== "ES256") { setStatus(status, "A P-256 test key signs ES256 only; choose “From the key” or ES256.", "bad"); return; }
    var known = registeredKey();
    var kid = $("pg-kid").value.trim() || (known ? known.kid : record.kid);
    var header = { alg: "ES256", kid: kid, typ: "JWT" };
    var signingInput = b64url(utf8(JSON.stringify(header))) + "." + b64url(utf8(JSON.stringify(payload)));
    var signature = await window.crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, record.privateKey, utf8(signingInput));
    var token = signingInput + "." + b64url(new Uint8Array(signature)); // WebCrypto gives R‖S: already JWS format

    all("[data-pg-server-result]").forEach(function (el) { el.parentNode.removeChild(el); });
    $("pg-signed-token").value = token;
    $("pg-signed-header").textContent = pretty(header);
    $("pg-signed-payload").textContent = pretty(payload);
    $("pg-signed-by").textContent = "Signed in this browser with test key " + kid + " (ES256)" + (known ? "." : ": not registered on " + data.widgetName + ", so Verify will answer unknown_key.");
    $("pg-handoff-token").value = token;
    $("pg-handoff-btn").textContent = "Verify this token →";
    if ($("pg-encrypt-token")) $("pg-encrypt-token").value = token;
    if ($("pg-encrypt-payload")) $("pg-encrypt-payload").value = $("pg-payload").value; // to show it again
    var result = $("pg-signed");
    result.hidden = false;
    setStatus(status, "Signed.", "ok");
    var encrypt = $("pg-encrypt");
    if (encrypt && encrypt.checked && $("pg-handoff-encrypt")) {
      setStatus(status, "Signed; encrypting for the tenant…", "ok");
      $("pg-handoff-encrypt").submit(); // the server encrypts the JWS as it is: nothing is re-signed
      return;
    }
    result.focus();
  }

  function setUpSign() {
    var form = $("pg-sign-form");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      var action = submitter ? submitter.value : "sign";
      if (action === "sign" && keySource() === "browser") {
        event.preventDefault();
        signInBrowser().catch(function (e) { setStatus($("pg-sign-status"), "Signing failed: " + e.message, "bad"); });
      } else if (keySource() === "browser") {
        // A pasted key is never needed for the browser path: do not send the textarea.
        $("pg-private-key").value = "";
      }
    });
  }

  // --- start -------------------------------------------------------------------------------

  function focusResult() {
    var target = $("pg-result") || (document.querySelector("#pg-signed:not([hidden])")) || $("pg-decoded");
    if (target) {
      target.focus({ preventScroll: true });
      target.scrollIntoView({ block: "start" });
    }
  }

  function start() {
    var block = $("pg-data");
    try { data = block ? JSON.parse(block.textContent) : {}; } catch (e) { data = {}; }
    document.documentElement.classList.add("js");
    all("[data-pg-js]").forEach(function (el) { el.hidden = false; });
    setUpTabs();
    setUpPayloadTools();
    setUpKeySource();
    setUpKeys();
    setUpSign();
    focusResult();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
