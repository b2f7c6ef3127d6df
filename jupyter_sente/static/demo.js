// The demo page's buttons, wired to the JS client (python -m jupyter_sente.demo loads this
// from /static/demo.js). The page provides window.senteDemo = {log, csrfToken, chskPath}.
// `?type=ajax` (or ws) in the page URL picks the transport; the default is auto.

import { ChannelSocket, isReplyError, makeEvent, printEdn } from "./sente-client.js";

const { log, csrfToken, chskPath } = window.senteDemo;
const $ = (id) => document.getElementById(id);
const show = (x) => {
  try {
    return printEdn(x);
  } catch {
    return String(x);
  }
};

const type = new URLSearchParams(location.search).get("type") ?? "auto";
const chsk = new ChannelSocket(chskPath, { csrfToken, type });
log(`client ${chsk.clientId}, type ${type}`);

function render() {
  const s = chsk.state;
  $("status").dataset.open = String(chsk.isOpen);
  $("status").textContent = chsk.isOpen ? "open" : chsk.connState;
  $("transport").textContent = chsk.transport ?? "-";
  $("uid").textContent = s.uid === undefined ? "-" : show(s.uid);
}

chsk.on((msg) => {
  if (msg.id.name === "chsk/state") {
    const [, now, openChanged] = msg.data;
    const flags = ["first-open?", "opened?", "closed?"].filter((k) => now[k]).join(" ");
    const why = now["closed?"] && now["last-close"] ? ` (${now["last-close"].reason})` : "";
    if (openChanged) log(`chsk/state: ${flags}${why}, type ${now.type}`);
    render();
  } else {
    log(`${msg.id.name === "chsk/handshake" ? "handshake" : "event"}: ${show(msg.event)}`);
  }
});
render();

const data = () => $("send-data").value;

/** Send with a reply and log it (or the reserved value it ended with). */
function request([id, ...data]) {
  const event = makeEvent(id, ...data);
  log(`request: ${show(event)}`);
  const sent = chsk.send(event, {
    timeoutMs: 5000,
    cb: (reply) => log(`${isReplyError(reply) ? "failed" : "reply"}: ${show(reply)}`),
  });
  if (!sent) log("not open: nothing sent");
}

$("btn-send").addEventListener("click", () => {
  const event = makeEvent("example/echo", data());
  log(`${chsk.send(event) ? "sent" : "not open, not sent"}: ${show(event)}`);
});
$("btn-echo").addEventListener("click", () => request(["example/echo", data()]));
$("btn-broadcast").addEventListener("click", () => chsk.send(["example/broadcast", data()]));
$("btn-toggle-loop").addEventListener("click", () => request(["example/toggle-broadcast-loop"]));
$("btn-use-ws").addEventListener("click", () => chsk.switchType("ws"));
$("btn-use-ajax").addEventListener("click", () => chsk.switchType("ajax"));
$("btn-disconnect").addEventListener("click", () => chsk.disconnect());
$("btn-reconnect").addEventListener("click", () => chsk.reconnect());

$("btn-login").addEventListener("click", async () => {
  const uid = $("login-user-id").value.trim();
  if (!uid) {
    log("login: enter a user id first");
    return;
  }
  const res = await fetch("/login", {
    method: "POST",
    headers: { "X-CSRF-Token": csrfToken, "Content-Type": "application/x-www-form-urlencoded" },
    body: `user-id=${encodeURIComponent(uid)}`,
  });
  log(`login as ${JSON.stringify(uid)}: HTTP ${res.status} ${await res.text()}`);
  // a channel socket's uid is fixed at connect time: reconnect to pick up the new one
  if (res.ok) chsk.reconnect();
});

window.senteDemo.chsk = chsk;
