// The pages' behaviour: streamed answers, the basket, jobs with progress (answers.js renders
// answers, drafts and evidence). Untrusted text (titles, abstracts, model output) only ever
// goes through textContent.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function safeLink(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

function paperHref(id) {
  return "/paper?id=" + encodeURIComponent(id);
}

function formFilters(form) {
  const out = {};
  for (const name of ["since", "until", "venue", "author", "source"]) {
    const input = form.querySelector(`[name="${name}"]`);
    if (input && input.value.trim()) out[name] = input.value.trim();
  }
  return out;
}

function errorBox(error) {
  const box = el("div", { class: "error", role: "alert" }, el("p", { class: "message", text: error.message }));
  if (error.hint) box.append(el("p", { class: "hint", text: "Hint: " + error.hint }));
  return box;
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify(body),
  });
  return response;
}

async function errorOf(response) {
  try {
    const data = await response.json();
    if (data.error) return data.error;
    if (data.detail) return { message: "The request was not valid: " + JSON.stringify(data.detail), hint: null };
  } catch (_) { /* not JSON */ }
  return { message: `The server answered ${response.status}.`, hint: null };
}

// --- the basket (kept in this browser) --------------------------------------------------------

const BASKET_KEY = "assistant-basket";

function basket() {
  try { return JSON.parse(localStorage.getItem(BASKET_KEY) || "[]"); } catch (_) { return []; }
}

function saveBasket(items) {
  localStorage.setItem(BASKET_KEY, JSON.stringify(items));
  showBasket();
}

function addToBasket(id, title) {
  const items = basket();
  if (!items.some((item) => item.id === id)) items.push({ id, title });
  saveBasket(items);
}

function exportHref(fmt) {
  const params = new URLSearchParams({ fmt });
  for (const item of basket()) params.append("id", item.id);
  return "/export?" + params.toString();
}

function showBasket() {
  const items = basket();
  const count = document.getElementById("basket-count");
  if (count) count.textContent = String(items.length);
  const list = document.getElementById("basket-list");
  if (!list) return;
  list.replaceChildren(...items.map((item) => el("li", {},
    el("a", { href: paperHref(item.id), text: item.title }), " ",
    el("button", { type: "button", class: "secondary small", text: "Remove",
      onclick: () => saveBasket(basket().filter((other) => other.id !== item.id)) }))));
  for (const [id, fmt] of [["export-bib", "bib"], ["export-ris", "ris"], ["export-csl", "csl-json"]]) {
    const link = document.getElementById(id);
    if (link) {
      link.href = exportHref(fmt);
      link.classList.toggle("disabled", items.length === 0);
    }
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest(".basket-add");
  if (!button) return;
  addToBasket(button.dataset.paperId, button.dataset.title);
  button.textContent = "In basket";
  button.disabled = true;
});

async function readEvents(response, handle) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const raw = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message", data = "";
      for (const line of raw.split("\n")) {
        if (line.startsWith("event: ")) kind = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      handle(kind, JSON.parse(data));
    }
  }
}

function setupAsk() {
  const form = document.getElementById("ask-form");
  if (!form) return;
  let chatId = null;
  const conversation = document.getElementById("conversation");
  const status = document.getElementById("ask-status");
  const button = document.getElementById("ask-button");
  document.getElementById("evidence-close").addEventListener("click", () => { document.getElementById("evidence").hidden = true; });
  document.getElementById("new-chat").addEventListener("click", () => {
    chatId = null;
    conversation.replaceChildren();
    status.textContent = "A new conversation: earlier questions are forgotten.";
  });
  const question = document.getElementById("question");
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text) return;
    const section = document.getElementById("turn-template").content.firstElementChild.cloneNode(true);
    section.querySelector(".q").textContent = text;
    conversation.append(section);
    const box = section.querySelector(".answer");
    button.disabled = true;
    const started = performance.now();
    status.textContent = "Searching…";
    try {
      const response = await postJson("/api/ask", { question: text, chat_id: chatId, filters: formFilters(form) });
      if (!response.ok) { section.append(errorBox(await errorOf(response))); return; }
      await readEvents(response, (kind, data) => {
        if (kind === "sources") { renderSources(section, data); status.textContent = "Answering…"; }
        else if (kind === "token") box.append(data);
        else if (kind === "answer") {
          renderAnswer(section, data);
          chatId = data.chat_id || chatId;
          section.dataset.turn = String(data.turn);
          status.textContent = `Answered in ${((performance.now() - started) / 1000).toFixed(1)} s.`;
        } else if (kind === "error") section.append(errorBox(data));
      });
      question.value = "";
    } catch (error) {
      section.append(errorBox({ message: "The connection to the app failed: " + error, hint: "Is 'assistant serve' still running?" }));
    } finally {
      button.disabled = false;
      section.classList.add("done");
    }
  });
  const saved = conversation.dataset.chatId;
  if (saved) {
    fetch("/api/chats/" + encodeURIComponent(saved)).then(async (response) => {
      if (!response.ok) { conversation.append(errorBox(await errorOf(response))); return; }
      const data = await response.json();
      chatId = data.chat_id;
      const fields = { year_from: "since", year_to: "until", venue: "venue", author: "author", source: "source" };
      for (const [key, name] of Object.entries(fields)) {
        if (data.filters[key] !== undefined) form.querySelector(`[name="${name}"]`).value = String(data.filters[key]);
      }
      for (const turn of data.turns) {
        const section = document.getElementById("turn-template").content.firstElementChild.cloneNode(true);
        section.querySelector(".q").textContent = turn.question;
        section.dataset.turn = String(turn.turn);
        conversation.append(section);
        renderAnswer(section, turn);
        section.classList.add("done");
      }
      status.textContent = `Continuing a conversation of ${data.turns.length} turns.`;
    });
  } else if (question.value.trim()) form.requestSubmit();
}

// --- jobs: related-work drafts and uploads -------------------------------------------------

async function pollJob(id, onUpdate) {
  for (;;) {
    const response = await fetch("/api/jobs/" + encodeURIComponent(id));
    if (!response.ok) { onUpdate({ state: "failed", error: await errorOf(response) }); return; }
    const job = await response.json();
    onUpdate(job);
    if (job.state !== "running") return;
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

function cancelJob(id) {
  return fetch(`/api/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST", headers: { "X-CSRF-Token": csrf() } });
}

function draftNodes(markdown, references) {
  const byN = new Map(references.map((r) => [r.n, r]));
  return richNodes(markdown, (n) => {
    const ref = byN.get(n);
    if (ref) window.location.href = paperHref(ref.paper_id);
  });
}

function setupRelated() {
  const form = document.getElementById("related-form");
  if (!form) return;
  const status = document.getElementById("draft-status");
  const stream = document.getElementById("draft-stream");
  const progress = document.getElementById("draft-progress");
  const cancel = document.getElementById("draft-cancel");
  const section = document.getElementById("draft");
  let current = null;
  cancel.addEventListener("click", () => { if (current) cancelJob(current); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    section.hidden = true;
    form.querySelectorAll(".error").forEach((node) => node.remove());
    const response = await postJson("/api/related", { topic: form.topic.value, k: Number(form.k.value), filters: formFilters(form) });
    if (!response.ok) { form.append(errorBox(await errorOf(response))); return; }
    const job = await response.json();
    current = job.id;
    progress.hidden = false; cancel.hidden = false; stream.hidden = false; stream.textContent = "";
    await pollJob(job.id, (update) => {
      status.textContent = update.state === "running" ? `Drafting… ${update.seconds || 0} s` : "";
      if (update.message) stream.textContent = update.message;
      if (update.state === "done") {
        const draft = update.result.draft;
        stream.hidden = true;
        section.hidden = false;
        for (const [id, fmt] of [["download-md", "md"], ["download-bib", "bib"], ["download-ris", "ris"], ["download-csl", "csl-json"]]) {
          document.getElementById(id).href = `/related/download?job=${encodeURIComponent(job.id)}&fmt=${fmt}`;
          document.getElementById(id).classList.toggle("disabled", !draft.covered || !draft.references.length);
        }
        const notes = [...draft.notes];
        if (draft.llm_error) notes.unshift("The model failed (" + draft.llm_error + "): this is the offline draft.");
        if (draft.mode === "extractive" && !draft.llm_error) notes.unshift("Offline draft: papers grouped by approach, each quoted by its contribution sentence (no language model is configured).");
        document.getElementById("draft-notes").replaceChildren(...notes.map((n) => el("li", { text: n })));
        document.getElementById("draft-body").replaceChildren(...draftNodes(draft.markdown, draft.references));
        document.getElementById("draft-references").replaceChildren(...draft.references.map((r) => el("li", { value: String(r.n) },
          el("a", { href: paperHref(r.paper_id), text: r.title }), r.year ? ` (${r.year}) ` : " ", el("code", { text: r.bibkey }))));
        timeline(document.getElementById("draft-timeline"), draft.references);
        status.textContent = `Drafted in ${update.seconds} s.`;
      } else if (update.state === "failed") {
        form.append(errorBox(update.error));
      } else if (update.state === "cancelled") {
        status.textContent = update.message || "Cancelled.";
      }
    });
    progress.hidden = true; cancel.hidden = true;
  });
}

function setupUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const box = document.getElementById("upload-job");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const report = document.getElementById("upload-report");
  const cancel = document.getElementById("upload-cancel");
  let current = null;
  cancel.addEventListener("click", () => { if (current) cancelJob(current); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    box.hidden = false; report.replaceChildren(); cancel.hidden = false;
    bar.removeAttribute("value");
    status.textContent = "Uploading…";
    const response = await fetch("/api/upload", { method: "POST", headers: { "X-CSRF-Token": csrf() }, body: new FormData(form) });
    if (!response.ok) { report.append(errorBox(await errorOf(response))); status.textContent = ""; cancel.hidden = true; return; }
    const job = await response.json();
    current = job.id;
    await pollJob(job.id, (update) => {
      if (update.total) { bar.max = update.total; bar.value = update.done; }
      if (update.state === "running") status.textContent = update.total ? `${update.done} of ${update.total} papers` : (update.message || "Reading…");
      if (update.state === "done") {
        const r = update.result;
        bar.max = 1; bar.value = 1;
        status.textContent = `Done: ${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged, ${r.merged} duplicates merged, ${r.rejected} rejected. The index holds ${r.papers} papers.`;
        const count = document.getElementById("paper-count");
        if (count) count.textContent = String(r.papers);
        if (r.demo_removed) report.append(el("p", { class: "note", text: `The ${r.demo_removed} demo papers were replaced by yours.` }));
        if (r.rejects.length) {
          report.append(el("h3", { text: "Rejected records" }),
            el("ul", { class: "rejects" }, ...r.rejects.map((x) => el("li", {}, el("code", { text: x.where }), ": " + x.reason))));
        }
        if (r.truncated.length) {
          report.append(el("h3", { text: "Fields cut to their limit" }),
            el("ul", {}, ...r.truncated.map((x) => el("li", {}, el("code", { text: x.where }), ": " + x.reason))));
        }
        report.append(el("p", {}, el("a", { href: "/papers", text: "See the papers" })));
      } else if (update.state === "failed") {
        report.append(errorBox(update.error));
      } else if (update.state === "cancelled") {
        status.textContent = update.message || "Cancelled.";
      }
      if (update.state !== "running") cancel.hidden = true;
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  showBasket();
  setupAsk();
  setupRelated();
  setupUpload();
  document.getElementById("basket-clear")?.addEventListener("click", () => saveBasket([]));
  for (const button of document.querySelectorAll(".basket-add")) {
    if (basket().some((item) => item.id === button.dataset.paperId)) { button.textContent = "In basket"; button.disabled = true; }
  }
});
