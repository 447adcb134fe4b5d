// Answers and drafts on the page: a small, safe reading of their Markdown, [n] links to the
// evidence panel, the sources with their scores and a strip of their years. Every piece of
// untrusted text goes in as text (el() and textContent); helpers come from app.js.
"use strict";

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

