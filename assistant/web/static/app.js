// The pages' behaviour: streamed answers, the evidence panel, the basket, jobs with progress.
// Untrusted text (titles, abstracts, model output) only ever goes through textContent.
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

// --- answers: text with [n] links, the evidence panel, sources and their years ---------------

const INLINE = /\*\*([^*\n]+)\*\*|\*([^*\n]+)\*|\[(\d+)\](\[unsupported\])?|\[unsupported\]|\[citation needed\]/g;

// One line of text: citations become links, *emphasis* and **strong** elements; the rest text.
function inlineNodes(text, onCite) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    nodes.push(text.slice(last, match.index));
    if (match[1] !== undefined) nodes.push(el("strong", { text: match[1] }));
    else if (match[2] !== undefined) nodes.push(el("em", { text: match[2] }));
    else if (match[3] !== undefined) {
      const n = Number(match[3]);
      const link = el("a", { href: "#", class: "cite" + (match[4] ? " unsupported" : ""), "data-n": String(n), text: `[${n}]` });
      link.addEventListener("click", (event) => { event.preventDefault(); onCite(n, link); });
      nodes.push(link);
      if (match[4]) nodes.push(el("span", { class: "mark unsupported", text: "[unsupported]" }));
    } else {
      nodes.push(el("span", { class: "mark " + (match[0] === "[unsupported]" ? "unsupported" : "uncited"), text: match[0] }));
    }
    last = match.index + match[0].length;
  }
  nodes.push(text.slice(last));
  return nodes;
}

// A small, safe reading of the Markdown that answers and drafts use: headings, lists, quotes,
// paragraphs; every piece of text goes in as text.
function richNodes(markdown, onCite) {
  const nodes = [];
  let group = null; // {kind, lines} of consecutive lines of one kind
  const LIST = /^\s*([-*•]|\d+[.)])\s+/;
  const flush = () => {
    if (!group) return;
    const { kind, lines } = group;
    if (kind === "ul" || kind === "ol") {
      nodes.push(el(kind, {}, ...lines.map((line) => el("li", {}, ...inlineNodes(line.replace(LIST, ""), onCite)))));
    } else if (kind === "quote") {
      nodes.push(el("blockquote", {}, ...inlineNodes(lines.map((l) => l.replace(/^>\s?/, "")).join(" "), onCite)));
    } else {
      const para = el("p");
      lines.forEach((line, i) => { if (i) para.append(el("br")); para.append(...inlineNodes(line, onCite)); });
      nodes.push(para);
    }
    group = null;
  };
  for (const line of markdown.split("\n")) {
    if (!line.trim()) { flush(); continue; }
    const heading = line.match(/^(#{1,4})\s+(.*)$/);
    if (heading) {
      flush();
      nodes.push(el("h" + Math.min(heading[1].length + 1, 5), {}, ...inlineNodes(heading[2], onCite)));
      continue;
    }
    const kind = LIST.test(line) ? (/^\s*\d/.test(line) ? "ol" : "ul") : line.startsWith(">") ? "quote" : "p";
    if (!group || group.kind !== kind) { flush(); group = { kind, lines: [] }; }
    group.lines.push(line);
  }
  flush();
  return nodes;
}

function showEvidence(answer, n) {
  const panel = document.getElementById("evidence");
  const body = document.getElementById("evidence-body");
  const paper = answer.citations.find((c) => c.n === n) || answer.sources.find((c) => c.n === n);
  if (!panel || !body || !paper) return;
  const meta = [paper.authors && paper.authors.join(", "), paper.year, paper.venue].filter(Boolean).join(" · ");
  const nodes = [
    el("p", { class: "evidence-n", text: `[${n}]` }),
    el("h3", {}, el("a", { href: paperHref(paper.paper_id), text: paper.title })),
    el("p", { class: "meta", text: meta }),
  ];
  const link = safeLink(paper.link);
  if (link) nodes.push(el("p", {}, el("a", { href: link, rel: "noopener noreferrer", target: "_blank", text: link })));
  const support = (answer.support || []).filter((s) => s.n === n);
  if (paper.title_only) nodes.push(el("p", { class: "note", text: "No abstract is indexed for this paper: only its title is known." }));
  for (const s of support) {
    nodes.push(el("div", { class: "support " + (s.supported ? "supported" : "unsupported") },
      el("p", { class: "label", text: s.supported ? `The abstract says (closeness ${s.score.toFixed(2)}):` : `Unsupported: the closest sentence of the abstract (closeness ${s.score.toFixed(2)}) says:` }),
      el("blockquote", { class: "evidence-sentence", text: s.evidence }),
      s.sentence.replace(/[“”"]/g, "") === s.evidence.replace(/[“”"]/g, "") ? null
        : el("p", { class: "cited-for", text: "Cited for: " + s.sentence })));
  }
  if (!support.length && !paper.title_only) nodes.push(el("p", { class: "note", text: "This paper was retrieved; the answer does not cite it." }));
  nodes.push(el("button", { type: "button", class: "basket-add secondary", "data-paper-id": paper.paper_id, "data-title": paper.title, text: "Add to basket" }));
  body.replaceChildren(...nodes);
  panel.hidden = false;
}

function timeline(container, papers) {
  const dated = papers.filter((p) => Number.isInteger(p.year));
  if (dated.length < 2) { container.hidden = true; return; }
  const years = dated.map((p) => p.year);
  const first = Math.min(...years), last = Math.max(...years);
  const columns = [];
  for (let year = first; year <= last; year++) {
    const here = dated.filter((p) => p.year === year);
    columns.push(el("div", { class: "year-col" },
      el("div", { class: "dots" }, ...here.map((p) => el("a", { class: "dot", href: paperHref(p.paper_id), title: `${p.title} (${p.year})`, "aria-label": p.title }))),
      el("div", { class: "year-label", text: String(year) })));
  }
  container.replaceChildren(...columns);
  container.hidden = false;
}

function renderSources(section, found) {
  const block = section.querySelector(".sources-block");
  const list = section.querySelector(".sources");
  if (found.searched_as) {
    const note = section.querySelector(".searched-as");
    note.textContent = "Searched for: " + found.searched_as;
    note.hidden = false;
  }
  section.querySelector(".conf").textContent = found.covered ? "" : "(the indexed papers likely do not cover this)";
  list.replaceChildren(...found.papers.map((p) => el("li", { class: "paper" },
    el("a", { href: paperHref(p.paper_id), text: p.title }),
    p.year ? el("span", { class: "year", text: ` (${p.year})` }) : null,
    el("span", { class: "score", title: "search score", text: p.score.toFixed(3) }),
    el("button", { type: "button", class: "basket-add secondary small", "data-paper-id": p.paper_id, "data-title": p.title, text: "Add" }),
    p.snippet ? el("div", { class: "snippet", text: p.snippet }) : null)));
  timeline(section.querySelector(".timeline"), found.papers);
  block.hidden = found.papers.length === 0;
}

function renderAnswer(section, answer) {
  const box = section.querySelector(".answer");
  box.classList.remove("streaming");
  box.replaceChildren(...richNodes(answer.answer, (n) => showEvidence(answer, n)));
  box.dataset.mode = answer.mode;
  const notes = section.querySelector(".notes");
  const lines = [];
  if (answer.mode === "extractive" && !answer.llm_error && !answer.abstained) {
    lines.push(el("li", { class: "mode-line", text: "Extractive answer: quoted sentences of the retrieved abstracts (no language model is configured)." }));
  }
  if (answer.llm_error) lines.push(el("li", { class: "llm-error", text: "The model failed (" + answer.llm_error + "): this is the extractive answer." }));
  if (answer.abstained) lines.push(el("li", { class: "not-covered", text: "Not covered: the indexed papers do not answer this; the nearest are listed." }));
  if (answer.no_match) lines.push(el("li", { class: "not-covered", text: answer.no_match }));
  for (const note of answer.notes || []) {
    if (!note.startsWith("Extractive mode")) lines.push(el("li", { text: note }));
  }
  if (answer.removed_citations && answer.removed_citations.length) {
    lines.push(el("li", { text: "Citations removed (no such source): " + answer.removed_citations.map((n) => `[${n}]`).join(" ") }));
  }
  notes.replaceChildren(...lines);
  if (answer.uncited && answer.uncited.length) {
    const uncited = section.querySelector(".uncited");
    uncited.textContent = "Sentences citing nothing [citation needed]: " + answer.uncited.join(" … ");
    uncited.hidden = false;
  }
  if (answer.reasoning) {
    const details = section.querySelector(".reasoning");
    details.querySelector("pre").textContent = answer.reasoning;
    details.hidden = false;
  }
}

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
