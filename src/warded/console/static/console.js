// warded console: passkey ceremonies, confirmations and the live decision stream. No inline script (CSP).
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const status = document.getElementById("status");

  function say(text, bad) {
    status.textContent = text;
    status.className = bad ? "bad" : "ok";
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    const text = await response.text();
    let data;
    try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
    if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
    return data;
  }

  // navigator.credentials.get with options the server made; returns the credential as JSON text.
  async function assertion(optionsUrl, body) {
    const options = await post(optionsUrl, body);
    const credential = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
    });
    return JSON.stringify(credential.toJSON());
  }

  async function run(button, work) {
    button.disabled = true;
    try {
      await work();
    } catch (error) {
      say(error.message || String(error), true);
    } finally {
      button.disabled = false;
    }
  }

  document.querySelectorAll("[data-login]").forEach(function (button) {
    button.addEventListener("click", function () {
      run(button, async function () {
        const signed = await assertion("/login/options", {});
        const result = await post("/login/verify", { assertion: signed });
        say("Signed in as " + result.approver, false);
        window.location.assign(result.next);
      });
    });
  });

  document.querySelectorAll("[data-logout]").forEach(function (button) {
    button.addEventListener("click", function () {
      run(button, async function () {
        const result = await post("/logout", {});
        window.location.assign(result.next);
      });
    });
  });

  document.querySelectorAll("[data-register]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const button = form.querySelector("button");
      run(button, async function () {
        const code = form.querySelector("input[name=code]").value.trim();
        const options = await post("/register/options", { code: code });
        const credential = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
        });
        const result = await post("/register/verify", { credential: JSON.stringify(credential.toJSON()) });
        say("Passkey registered for " + result.approver + ". Sign in with it now.", false);
        window.setTimeout(function () { window.location.assign(result.next); }, 600);
      });
    });
  });

  document.querySelectorAll("[data-decide]").forEach(function (button) {
    button.addEventListener("click", function () {
      const verdict = button.dataset.decide;
      const id = button.dataset.request;
      run(button, async function () {
        const base = "/approvals/" + encodeURIComponent(id);
        const signed = await assertion(base + "/options", { verdict: verdict });
        await post(base + "/decide", { verdict: verdict, assertion: signed });
        say((verdict === "approve" ? "Approved " : "Denied ") + id + " (signed with your passkey).", false);
        const section = document.getElementById("req-" + id);
        if (section) section.remove();
      });
    });
  });

  document.querySelectorAll("[data-session-op]").forEach(function (button) {
    button.addEventListener("click", function () {
      const body = { op: button.dataset.sessionOp, agent_id: button.dataset.agent, session_id: button.dataset.session };
      run(button, async function () {
        const signed = await assertion("/sessions/options", body);
        body.assertion = signed;
        await post("/sessions/confirm", body);
        say((body.op === "pause" ? "Paused " : "Resumed ") + body.agent_id + " / " + body.session_id, false);
        window.setTimeout(function () { window.location.reload(); }, 400);
      });
    });
  });

  const table = document.getElementById("decisions");
  if (table && window.EventSource) {
    const body = table.querySelector("tbody");
    const count = document.getElementById("live-count");
    let received = 0;
    // The page was rendered up to this seq; the stream resumes after it. A decision at or below the last
    // seq shown is never added again (the server sends each seq once; this holds across reconnects too).
    let shown = Number(table.dataset.after) || 0;
    const source = new EventSource(table.dataset.stream);
    source.addEventListener("open", function () { table.dataset.live = "open"; });
    source.addEventListener("decision", function (event) {
      const d = JSON.parse(event.data);
      if (!(d.seq > shown)) return;
      shown = d.seq;
      const row = document.createElement("tr");
      row.className = "v-" + d.verdict;
      row.dataset.seq = String(d.seq);
      const when = new Date(d.ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
      [String(d.seq), when, d.agent_id + " / " + d.session_id, d.tool, d.verdict, d.rule_id + " " + d.message]
        .forEach(function (text) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.appendChild(cell);
        });
      body.insertBefore(row, body.firstChild);
      while (body.rows.length > 500) body.deleteRow(body.rows.length - 1);
      received += 1;
      count.textContent = String(received);
    });
    source.addEventListener("stalled", function (event) {
      say(JSON.parse(event.data) + " (retrying; decisions made meanwhile will appear).", true);
    });
    source.addEventListener("gap", function (event) {
      say("Decisions were missed by this view (" + event.data + " skipped); reload to see them all.", true);
    });
  }
})();
