// The XrayGPT page: one image, a streamed summary, follow-up questions.
// It speaks the server's OpenAI-compatible API; nothing is loaded from elsewhere.
"use strict";

const DEFAULT_QUESTION = "Describe the given chest x-ray image in detail.";
const $ = (id) => document.getElementById(id);
const model = document.body.dataset.model;

let imageURL = null;   // the image as a data: URL
let turns = [];        // {role, content} after the image message
let busy = false;
let controller = null;

function showError(msg) {
  const e = $("error");
  e.textContent = msg;
  e.hidden = !msg;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function setBusy(b) {
  busy = b;
  const answered = turns.some((t) => t.role === "assistant");
  $("summarize").disabled = b || !imageURL || turns.length > 0;
  $("question").placeholder = answered ? "Ask about this image" : "Summarize first, then ask about the image";
  $("question").disabled = b || !answered;
  $("ask").disabled = b || !answered;
  $("copy").disabled = b || !answered;
}

function addEntry(role, text) {
  const li = document.createElement("li");
  li.className = role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "XrayGPT";
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(who, body);
  $("log").append(li);
  li.scrollIntoView({ block: "end" });
  return body;
}

async function apiError(resp) {
  try {
    const j = await resp.json();
    if (j && j.error && j.error.message) return j.error.message + " (HTTP " + resp.status + ")";
  } catch (_) { /* not JSON */ }
  return "HTTP " + resp.status + " " + resp.statusText;
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(new Error("cannot read " + file.name));
    r.readAsDataURL(file);
  });
}

async function loadFile(file) {
  if (!file) return;
  reset();
  showError("");
  $("file-name").textContent = file.name;
  try {
    imageURL = await readFile(file);
    // The server renders the preview (DICOM with its window), as the model sees it.
    const resp = await fetch("/v1/xraygpt/preview", { method: "POST", headers: headers(), body: file });
    if (!resp.ok) throw new Error(await apiError(resp));
    const img = $("preview");
    img.src = URL.createObjectURL(await resp.blob());
    img.alt = "Preview of " + file.name;
    img.hidden = false;
    $("drop-text").hidden = true;
  } catch (err) {
    imageURL = null;
    showError("Cannot use this image: " + err.message);
  }
  setBusy(false);
  if (imageURL) $("summarize").focus();
}

// ask sends the conversation with a new question and streams the answer in.
async function ask(question) {
  if (busy || !imageURL) return;
  showError("");
  addEntry("user", question);
  const out = addEntry("assistant", "");
  out.parentElement.setAttribute("aria-busy", "true");
  const first = { role: "user", content: [
    { type: "image_url", image_url: { url: imageURL } },
    { type: "text", text: turns.length ? turns[0].content : question },
  ] };
  const messages = turns.length ? [first, ...turns.slice(1), { role: "user", content: question }] : [first];
  const body = { model, messages, stream: true };
  if ($("greedy").checked) body.temperature = 0;
  setBusy(true);
  controller = new AbortController();
  let text = "";
  try {
    const resp = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal });
    if (!resp.ok) throw new Error(await apiError(resp));
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const j = JSON.parse(data);
          if (j.error) throw new Error(j.error.message);
          const delta = j.choices && j.choices[0] && j.choices[0].delta;
          if (delta && delta.content) {
            text += delta.content;
            out.textContent = text;
          }
        }
      }
    }
    turns.push({ role: "user", content: question });
    turns.push({ role: "assistant", content: text });
    out.parentElement.removeAttribute("aria-busy");
    out.parentElement.classList.add("done");
  } catch (err) {
    // Take the unanswered question and its answer out of the conversation.
    out.parentElement.previousElementSibling.remove();
    out.parentElement.remove();
    if (err.name !== "AbortError") showError("The answer failed: " + err.message);
  } finally {
    controller = null;
    setBusy(false);
  }
}

function reset() {
  if (controller) controller.abort();
  imageURL = null;
  turns = [];
  $("log").textContent = "";
  $("preview").hidden = true;
  $("preview").removeAttribute("src");
  $("drop-text").hidden = false;
  $("file-name").textContent = "";
  $("question").value = "";
  $("file").value = "";
  showError("");
  setBusy(false);
}

async function copyReport() {
  const first = turns.find((t) => t.role === "assistant");
  if (!first) return;
  try {
    await navigator.clipboard.writeText(first.content);
    $("copy").textContent = "Copied";
  } catch (_) {
    showError("Copy failed: select the text and copy it by hand.");
  }
  setTimeout(() => { $("copy").textContent = "Copy report"; }, 1500);
}

document.addEventListener("DOMContentLoaded", () => {
  const key = $("api-key");
  key.value = sessionStorage.getItem("xraygpt-key") || "";
  key.addEventListener("change", () => sessionStorage.setItem("xraygpt-key", key.value));
  $("file").addEventListener("change", (e) => loadFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    loadFile(e.dataTransfer.files[0]);
  });
  $("summarize").addEventListener("click", () => ask(DEFAULT_QUESTION));
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("question").value.trim();
    if (!q) { showError("Type a question first."); return; }
    $("question").value = "";
    ask(q).then(() => $("question").focus());
  });
  $("copy").addEventListener("click", copyReport);
  $("reset").addEventListener("click", () => { reset(); drop.focus(); });
  setBusy(false);
});
