// The writers' console: plain DOM over the service's own API. Text from the knowledge base is always set as
// text (textContent), never parsed as HTML; the API key lives in this tab's sessionStorage only.
"use strict";

const KEY = "ipai-rag-key";
const FINAL = new Set(["ready", "failed"]);
const state = { key: sessionStorage.getItem(KEY), me: null, docs: new Map(), cursor: null, session: null,
  events: null, lastEventId: null, uploads: new Map() };

// ---------------------------------------------------------------- helpers
const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function notice(text) { $("#notice").textContent = text || ""; }

class ApiError extends Error {
  constructor(status, problem) { super(problem.detail || problem.title || `HTTP ${status}`); this.status = status;
    this.problem = problem; }
}

async function api(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const h = { ...headers, Authorization: `Bearer ${state.key}` };
  let payload = body;
  if (json !== undefined) { h["Content-Type"] = "application/json"; payload = JSON.stringify(json); }
  const response = await fetch(path, { method, headers: h, body: payload, signal });
  if (!response.ok) {
    let problem = { title: response.statusText };
    try { problem = await response.json(); } catch { /* not problem+json */ }
    throw new ApiError(response.status, problem);
  }
  return response;
}

async function apiJson(path, options) { return (await api(path, options)).json(); }

// Server-Sent Events over fetch (EventSource cannot send the Authorization header).
async function* sse(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { event: "message", data: [], id: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(cut + (buffer[cut] === "\r" ? 2 : 1));
      if (line === "") {
        if (event.data.length) yield { event: event.event, id: event.id, data: JSON.parse(event.data.join("\n")) };
        event = { event: "message", data: [], id: null };
      } else if (line.startsWith("data:")) event.data.push(line.slice(5).trimStart());
      else if (line.startsWith("event:")) event.event = line.slice(6).trim();
      else if (line.startsWith("id:")) event.id = line.slice(3).trim();
    }
  }
}

function statusBadge(doc) {
  return el("span", { class: `status status-${doc.status}`, "data-status": doc.status }, doc.status,
    doc.status === "failed" && doc.status_reason ? el("span", { class: "reason" }, doc.status_reason) : null);
}

function snippetNodes(snippet) {
  // A search snippet marks the query's words with <mark>...</mark>: those become mark elements around text
  // nodes; nothing in it is parsed as HTML.
  return snippet.split(/(<mark>|<\/mark>)/).reduce((acc, part) => {
    if (part === "<mark>") acc.open = true;
    else if (part === "</mark>") acc.open = false;
    else if (part) acc.nodes.push(acc.open ? el("mark", {}, part) : part);
    return acc;
  }, { nodes: [], open: false }).nodes;
}

function quoteMarked(text, quote) {
  // The chunk's text with the cited quote marked, built from text nodes.
  const at = quote ? text.indexOf(quote) : -1;
  if (at < 0) return [text];
  return [text.slice(0, at), el("mark", {}, quote), text.slice(at + quote.length)];
}

// ---------------------------------------------------------------- views
const VIEWS = ["signin", "documents", "document", "upload", "search", "ask", "chat", "unanswered", "evaluation"];

function show(view) {
  for (const name of VIEWS) $(`#view-${name}`).hidden = name !== view;
  for (const button of document.querySelectorAll("#nav button")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  notice("");
  const loaders = { documents: () => loadDocuments(true), unanswered: loadUnanswered, evaluation: loadEvaluation };
  if (loaders[view]) loaders[view]().catch(fail);
}

function fail(error) { notice(error instanceof ApiError ? `${error.status}: ${error.message}` : String(error)); }

// ---------------------------------------------------------------- sign in
async function signIn(key) {
  state.key = key;
  try {
    state.me = await apiJson("/v1/me");
  } catch (error) {
    state.key = null;
    sessionStorage.removeItem(KEY);
    throw error;
  }
  sessionStorage.setItem(KEY, key);
  $("#who").textContent = `tenant ${state.me.tenant_id} · scopes ${state.me.scopes.join(", ")}` +
    (state.me.user_id ? ` · user ${state.me.user_id}` : "");
  $("#nav").hidden = false;
  $("#sign-out").hidden = false;
  watchDocuments();
  show("documents");
}

function signOut() {
  sessionStorage.removeItem(KEY);
  state.key = null;
  if (state.events) state.events.abort();
  location.reload();
}

// ---------------------------------------------------------------- live document statuses
async function watchDocuments() {
  if (state.events) state.events.abort();
  const controller = new AbortController();
  state.events = controller;
  while (!controller.signal.aborted) {
    try {
      const headers = state.lastEventId ? { "Last-Event-ID": state.lastEventId } : {};
      const response = await api("/v1/kb/events", { headers, signal: controller.signal });
      for await (const message of sse(response)) {
        if (message.id) state.lastEventId = message.id;
        documentChanged(message.data);
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function documentChanged(event) {
  const doc = { ...(state.docs.get(event.document_id) || {}), id: event.document_id, title: event.title,
    source: event.source, status: event.status, status_reason: event.reason, chunk_count: event.chunk_count,
    embedded_chunks: event.embedded_chunks };
  state.docs.set(doc.id, doc);
  const upload = state.uploads.get(doc.id);
  if (upload) upload.update(doc);
  const row = document.querySelector(`#documents-table tr[data-id="${doc.id}"]`);
  if (row) row.replaceWith(documentRow(doc));
}

// ---------------------------------------------------------------- documents
async function loadDocuments(fresh) {
  const form = new FormData($("#documents-filter"));
  const params = new URLSearchParams({ limit: "50" });
  for (const name of ["source", "status", "language", "metadata"]) {
    const value = String(form.get(name) || "").trim();
    if (value) params.set(name, value);
  }
  if (!fresh && state.cursor) params.set("cursor", state.cursor);
  const page = await apiJson(`/v1/kb/documents?${params}`);
  const body = $("#documents-table tbody");
  if (fresh) body.replaceChildren();
  for (const doc of page.items) {
    state.docs.set(doc.id, doc);
    body.append(documentRow(doc));
  }
  if (fresh && !page.items.length) body.append(el("tr", {}, el("td", { colspan: 5 }, "No documents.")));
  state.cursor = page.next_cursor;
  $("#documents-more").hidden = !page.next_cursor;
}

function documentRow(doc) {
  const actions = el("div", { class: "row" },
    el("button", { type: "button", onclick: () => openDocument(doc.id) }, "Open"),
    el("button", { type: "button", onclick: () => reindex(doc.id) }, "Reindex"),
    doc.status === "failed" ? el("button", { type: "button", onclick: () => retry(doc.id) }, "Retry") : null,
    deleteButton(doc));
  return el("tr", { "data-id": doc.id },
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => openDocument(doc.id) },
      doc.title || doc.external_id || `#${doc.id}`)),
    el("td", {}, doc.source || ""), el("td", {}, statusBadge(doc)),
    el("td", {}, `${doc.embedded_chunks ?? 0} / ${doc.chunk_count ?? 0}`), el("td", {}, actions));
}

function deleteButton(doc) {
  // Two steps instead of a dialog: "Delete", then "Confirm delete".
  const button = el("button", { type: "button", "aria-label": `Delete ${doc.title}` }, "Delete");
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "1") {
      button.dataset.armed = "1";
      button.textContent = "Confirm delete";
      return;
    }
    try {
      await api(`/v1/kb/documents/${doc.id}`, { method: "DELETE" });
      state.docs.delete(doc.id);
      document.querySelector(`#documents-table tr[data-id="${doc.id}"]`)?.remove();
      notice(`Deleted ${doc.title}.`);
      if (!$("#view-document").hidden) show("documents");
    } catch (error) { fail(error); }
  });
  return button;
}

async function reindex(id) {
  try {
    const out = await apiJson("/v1/kb/reindex", { method: "POST",
      json: { rechunk: true, reembed: true, filters: { document_ids: [id] } } });
    notice(`Reindexing: ${out.chunks_inserted} chunks new, ${out.jobs_enqueued} embedding jobs.`);
  } catch (error) { fail(error); }
}

async function retry(id) {
  try {
    const doc = await apiJson(`/v1/kb/documents/${id}/retry`, { method: "POST" });
    documentChanged({ document_id: doc.id, title: doc.title, source: doc.source, status: doc.status,
      reason: doc.status_reason, chunk_count: doc.chunk_count, embedded_chunks: doc.embedded_chunks });
  } catch (error) { fail(error); }
}

async function openDocument(id, cited = null) {
  try {
    const doc = await apiJson(`/v1/kb/documents/${id}?chunks=true`);
    show("document");
    $("#document-title").textContent = doc.title || doc.external_id;
    const facts = [["Status", statusBadge(doc)], ["Source", doc.source], ["External id", doc.external_id],
      ["Language", doc.language], ["Version", doc.version],
      ["Chunks embedded", `${doc.embedded_chunks} / ${doc.chunk_count}`],
      ["Metadata", JSON.stringify(doc.metadata)], ["Original", doc.original ? doc.original.key : "none"]];
    $("#document-facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
    $("#document-actions").replaceChildren(...[
      doc.original ? el("button", { type: "button", onclick: () => downloadOriginal(doc) }, "Download original") : null,
      el("button", { type: "button", onclick: () => reindex(doc.id) }, "Reindex"),
      doc.status === "failed" ? el("button", { type: "button", onclick: () => retry(doc.id) }, "Retry") : null,
      deleteButton(doc)].filter(Boolean));
    let target = null;
    const items = (doc.chunks || []).map((chunk) => {
      const isCited = cited && chunk.id === cited.chunk_id;
      const item = el("li", { id: `chunk-${chunk.id}`, class: isCited ? "cited" : null, tabindex: isCited ? -1 : null },
        el("div", { class: "meta" }, chunk.section_path || "(top)", " · ",
          chunk.embedded ? "embedded" : "not embedded yet", ` · chars ${chunk.char_start}-${chunk.char_end}`),
        el("p", {}, ...quoteMarked(chunk.content, isCited ? cited.quote : null)));
      if (isCited) target = item;
      return item;
    });
    $("#document-chunks").replaceChildren(...items);
    if (target) { target.scrollIntoView({ block: "center" }); target.focus(); }
  } catch (error) { fail(error); }
}

async function downloadOriginal(doc) {
  try {
    const blob = await (await api(`/v1/kb/documents/${doc.id}/original`)).blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: doc.original.key.split("/").pop() });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) { fail(error); }
}

// ---------------------------------------------------------------- upload
function uploadFiles(files) {
  const source = $("#upload-source").value.trim() || "upload";
  for (const file of files) uploadOne(file, source, false);
}

function uploadOne(file, source, replace) {
  const progress = el("progress", { max: 100, value: 0, "aria-label": `${file.name} upload` });
  const status = el("span", { class: "status" }, "uploading");
  const extra = el("span");
  const row = el("li", { "data-file": file.name }, el("span", {}, file.name), progress, status, extra);
  $("#uploads").append(row);
  const form = new FormData();
  form.append("file", file);
  form.append("source", source);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/v1/kb/documents?async=true${replace ? "&replace=true" : ""}`);
  xhr.setRequestHeader("Authorization", `Bearer ${state.key}`);
  xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; });
  xhr.addEventListener("load", () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 202 || xhr.status === 201) {
      progress.value = 100;
      for (const doc of body.documents || []) track(doc, row, status, extra);
    } else if (xhr.status === 409 && body.document) {
      status.replaceChildren(el("span", { class: "status status-failed" }, "exists"));
      extra.replaceChildren(el("button", { type: "button", onclick: () => { row.remove(); uploadOne(file, source, true); } },
        `Replace ${body.document.title}`));
    } else {
      status.replaceChildren(el("span", { class: "status status-failed", "data-status": "failed" }, "refused",
        el("span", { class: "reason" }, body.detail || `HTTP ${xhr.status}`)));
    }
  });
  xhr.addEventListener("error", () => { status.textContent = "network error"; });
  xhr.send(form);
}

function track(doc, row, status, extra) {
  row.dataset.id = doc.id;
  const update = (current) => {
    status.replaceChildren(statusBadge(current));
    extra.replaceChildren(...[el("button", { type: "button", onclick: () => openDocument(current.id) }, "Open"),
      current.status === "failed" ? el("button", { type: "button", onclick: () => { retry(current.id);
        state.uploads.set(current.id, { update }); poll(current.id); } }, "Retry") : null].filter(Boolean));
    if (FINAL.has(current.status)) state.uploads.delete(current.id);
  };
  const known = state.docs.get(doc.id);
  update(known && known.status !== "queued" ? { ...doc, ...known } : doc);
  if (!FINAL.has(doc.status)) {
    state.uploads.set(doc.id, { update });
    poll(doc.id);  // the events stream is the main way; a slow poll covers a dropped stream
  }
}

async function poll(id) {
  while (state.uploads.has(id)) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    if (!state.uploads.has(id)) return;
    try {
      const doc = await apiJson(`/v1/kb/documents/${id}`);
      documentChanged({ document_id: doc.id, title: doc.title, source: doc.source, status: doc.status,
        reason: doc.status_reason, chunk_count: doc.chunk_count, embedded_chunks: doc.embedded_chunks });
    } catch { return; }
  }
}

// ---------------------------------------------------------------- search
async function search(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const explain = form.get("explain") === "on";
  try {
    const out = await apiJson("/v1/search", { method: "POST",
      json: { query: form.get("query"), mode: form.get("mode"), explain, k: 10 } });
    const list = $("#search-results");
    list.replaceChildren(...out.hits.map((hit) => el("li", { "data-chunk": hit.chunk_id },
      el("button", { type: "button", onclick: () => openDocument(hit.document_id, { chunk_id: hit.chunk_id, quote: "" }) },
        hit.title),
      el("div", { class: "meta" }, `${hit.section_path} · score ${hit.score.toFixed(4)}`),
      el("p", {}, ...(hit.snippet ? snippetNodes(hit.snippet) : [hit.content.slice(0, 400)])),
      hit.explain ? legsTable(hit.explain) : null)));
    if (!out.hits.length) list.append(el("li", {}, "No hits."));
    notice(`${out.hits.length} hits in ${out.took_ms.toFixed(1)} ms (${out.mode}).`);
  } catch (error) { fail(error); }
}

function legsTable(explain) {
  return el("table", { class: "legs" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "leg"), el("th", { scope: "col" }, "rank"),
      el("th", { scope: "col" }, "score"))),
    el("tbody", {}, ...Object.entries(explain).map(([leg, s]) => el("tr", { "data-leg": leg }, el("td", {}, leg),
      el("td", {}, s.rank ?? "–"), el("td", {}, s.score === null ? "–" : s.score.toFixed(4))))));
}

// ---------------------------------------------------------------- ask and chat
function answerBlock() {
  const text = el("p", { class: "answer", "aria-live": "polite" });
  const citations = el("ol", { class: "citations" });
  const footer = el("div");
  return { node: el("div", { class: "answer-block" }, text, citations, footer), text, citations, footer };
}

async function streamAnswer(path, json, block, onDone) {
  const response = await api(path, { method: "POST", json: { ...json, stream: true } });
  for await (const message of sse(response)) {
    if (message.event === "delta") block.text.append(message.data.text);
    else if (message.event === "citation") block.citations.append(citationItem(message.data));
    else if (message.event === "error") throw new ApiError(message.data.status, message.data);
    else if (message.event === "done") onDone(message.data);
  }
}

function citationItem(citation) {
  return el("li", {}, el("button", { type: "button", class: "citation",
    onclick: () => openDocument(citation.document_id, citation) },
  `[${citation.n}] ${citation.title}`), " ", el("span", { class: "meta" }, `“${citation.quote}”`));
}

function finishAnswer(block, answer) {
  block.text.textContent = answer.answer;  // the final, verified text
  if (!answer.grounded) block.text.classList.add("declined");
  if (answer.answer_id) block.footer.replaceChildren(feedbackForm(answer.answer_id));
}

function feedbackForm(answerId) {
  const comment = el("textarea", { rows: 1, cols: 40, "aria-label": "Comment (optional)", placeholder: "Comment (optional)" });
  const sent = el("span", { class: "meta", "aria-live": "polite" });
  const buttons = [];
  const send = async (rating, button) => {
    try {
      await api("/v1/feedback", { method: "POST",
        json: { answer_id: answerId, rating, comment: comment.value.trim() || null } });
      for (const b of buttons) b.setAttribute("aria-pressed", String(b === button));
      sent.textContent = "Thanks: feedback saved.";
    } catch (error) { fail(error); }
  };
  const up = el("button", { type: "button", "aria-pressed": "false" }, "Helpful");
  const down = el("button", { type: "button", "aria-pressed": "false" }, "Not helpful");
  up.addEventListener("click", () => send("up", up));
  down.addEventListener("click", () => send("down", down));
  buttons.push(up, down);
  return el("div", { class: "feedback", "data-answer": answerId }, up, down, comment, sent);
}

async function ask(event) {
  event.preventDefault();
  const question = new FormData(event.target).get("question");
  const block = answerBlock();
  $("#ask-answer").replaceChildren(block.node);
  try {
    await streamAnswer("/v1/ask", { question }, block, (answer) => finishAnswer(block, answer));
  } catch (error) { fail(error); }
}

async function chat(event) {
  event.preventDefault();
  const input = event.target.elements.message;
  const message = input.value;
  input.value = "";
  const block = answerBlock();
  $("#chat-log").append(el("li", { class: "user" }, el("strong", {}, "You: "), message),
    el("li", { class: "assistant" }, block.node));
  try {
    const json = state.session ? { message, session_id: state.session } : { message };
    await streamAnswer("/v1/chat", json, block, (out) => {
      state.session = out.session_id;
      finishAnswer(block, out.reply);
    });
  } catch (error) { fail(error); }
}

// ---------------------------------------------------------------- unanswered, evaluation
async function loadUnanswered() {
  const page = await apiJson("/v1/feedback/unanswered?limit=50");
  const list = $("#unanswered-list");
  list.replaceChildren(...page.items.map((item) => el("li", { "data-answer": item.answer_id },
    el("strong", {}, item.question),
    el("div", { class: "meta" }, `${item.grounded ? "rated down" : "declined"} · ${new Date(item.created_at).toLocaleString()}`),
    el("p", {}, item.answer),
    item.comment ? el("p", { class: "meta" }, `Comment: ${item.comment}`) : null,
    el("details", {}, el("summary", {}, `What retrieval found (${item.retrieved.length})`),
      el("ol", {}, ...item.retrieved.map((hit) => el("li", {},
        el("button", { type: "button", onclick: () => openDocument(hit.document_id, { chunk_id: hit.chunk_id, quote: "" }) },
          hit.title), el("span", { class: "meta" }, ` ${hit.section_path || ""}`))))))));
  if (!page.items.length) list.append(el("li", {}, "Nothing unanswered."));
}

async function loadEvaluation() {
  const body = $("#evaluation-body");
  try {
    const report = await apiJson("/v1/eval/latest");
    const parts = [el("p", { class: "meta" }, report.name), el("pre", {}, report.markdown)];
    if (report.chart) {
      const blob = await (await api("/v1/eval/latest/chart")).blob();
      parts.push(el("img", { src: URL.createObjectURL(blob), alt: "Chart of the latest evaluation" }));
    }
    body.replaceChildren(...parts);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) body.replaceChildren(el("p", {}, error.message));
    else throw error;
  }
}

// ---------------------------------------------------------------- wiring
function wire() {
  $("#signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#api-key").value.trim()).catch(fail);
  });
  $("#sign-out").addEventListener("click", signOut);
  for (const button of document.querySelectorAll("#nav button")) {
    button.addEventListener("click", () => show(button.dataset.view));
  }
  $("#documents-filter").addEventListener("submit", (event) => { event.preventDefault(); loadDocuments(true).catch(fail); });
  $("#documents-more").addEventListener("click", () => loadDocuments(false).catch(fail));
  $("#upload-input").addEventListener("change", (event) => { uploadFiles(event.target.files); event.target.value = ""; });
  const zone = $("#dropzone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadFiles(event.dataTransfer.files);
  });
  $("#search-form").addEventListener("submit", search);
  $("#ask-form").addEventListener("submit", ask);
  $("#chat-form").addEventListener("submit", chat);
  $("#chat-new").addEventListener("click", () => { state.session = null; $("#chat-log").replaceChildren(); });
  if (state.key) signIn(state.key).catch(() => show("signin"));
  else show("signin");
}

wire();
