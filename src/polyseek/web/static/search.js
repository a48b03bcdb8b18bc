// Search view: text + image query (drop, paste, choose), weight slider, filters, results grouped by type.

import { api, itemUrl } from './api.js';
import { $, $$, h, MODALITY, PICTURED, altText, basename, describeLocator, errorText, gridKeys } from './ui.js';

const state = { image: null, imageUrl: null, like: null, hits: [], seq: 0, controller: null };
let openDetail = () => {};

export function currentHits() { return state.hits; }

function setImage(file, label) {
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.image = file;
  state.like = null;
  state.imageUrl = file ? URL.createObjectURL(file) : null;
  showQueryImage(state.imageUrl, label || (file && file.name));
}

function showQueryImage(url, label) {
  const thumb = $('#query-thumb');
  thumb.hidden = !url;
  if (url) { thumb.src = url; thumb.alt = `Query image${label ? `: ${label}` : ''}`; } else { thumb.removeAttribute('src'); thumb.alt = ''; }
  $('#image-clear').hidden = !url;
  $('#drop-hint').textContent = url ? (label || 'Query image') : 'Drop, paste or choose an image';
  updateWeightRow();
}

function updateWeightRow() {
  const both = Boolean((state.image || state.like) && $('#q').value.trim());
  $('#weight-row').hidden = !both;
}

function readFilters(form) {
  const modalities = $$('input[name=modality]:checked', form).map((box) => box.value);
  const fileTypes = form.file_types.value.split(/[\s,]+/).filter(Boolean);
  const filters = {};
  if (modalities.length) filters.modalities = modalities;
  if (fileTypes.length) filters.file_types = fileTypes;
  if (form.path_glob.value.trim()) filters.path_glob = form.path_glob.value.trim();
  if (form.date_from.value) filters.date_from = form.date_from.value;
  if (form.date_to.value) filters.date_to = form.date_to.value;
  return Object.keys(filters).length ? filters : null;
}

function request() {
  const form = $('#search-form');
  const text = $('#q').value.trim();
  const body = { k: Number(form.k.value) || 24 };
  if (text) body.text = text;
  const filters = readFilters(form);
  if (filters) body.filters = filters;
  if ((state.image || state.like) && text) {
    const share = Number($('#weight').value);
    body.image_weight = Number((2 * share).toFixed(3));
    body.text_weight = Number((2 * (1 - share)).toFixed(3));
  }
  if (state.like) body.like = state.like;
  if (!state.image) return { json: body };
  const data = new FormData();
  for (const [key, value] of Object.entries(body)) data.append(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
  data.append('image', state.image, state.image.name || 'query.png');
  return { form: data };
}

function skeletons(count) {
  const grid = h('ul', { class: 'grid', 'aria-hidden': 'true' });
  for (let i = 0; i < Math.min(count, 12); i += 1) grid.append(h('li', {}, h('div', { class: 'card skeleton' }, h('div', { class: 'thumb' }), h('div', { class: 'meta' }, ' '))));
  return h('section', { class: 'group' }, h('h2', { class: 'group-title' }, ' '), grid);
}

export async function runSearch() {
  const text = $('#q').value.trim();
  if (!text && !state.image && !state.like) { $('#q').focus(); return; }
  const results = $('#results');
  const summary = $('#search-summary');
  const seq = ++state.seq;
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  results.setAttribute('aria-busy', 'true');
  if (!results.children.length) results.replaceChildren(skeletons(Number($('#search-form').k.value)));
  else results.classList.add('stale');
  summary.textContent = 'Searching…';
  const params = new URLSearchParams();
  if (text) params.set('q', text);
  history.replaceState(null, '', `#search${params.toString() ? `?${params}` : ''}`);
  try {
    const started = performance.now();
    const answer = await api('/api/search', { method: 'POST', signal: state.controller.signal, ...request() });
    if (seq !== state.seq) return;
    state.hits = answer.hits;
    renderHits(answer.hits);
    const ms = Math.round(performance.now() - started);
    summary.textContent = answer.hits.length
      ? `${answer.hits.length} result${answer.hits.length === 1 ? '' : 's'} in ${ms} ms`
      : 'No results. Try other words, fewer filters, or index more folders.';
  } catch (error) {
    if (error.name === 'AbortError') return;
    results.replaceChildren();
    summary.textContent = `Search failed: ${errorText(error)}`;
    summary.dataset.kind = 'error';
    return;
  } finally {
    if (seq === state.seq) { results.setAttribute('aria-busy', 'false'); results.classList.remove('stale'); }
  }
  summary.dataset.kind = '';
}

export function card(hit, rank, onOpen) {
  const info = MODALITY[hit.modality] || { one: hit.modality, icon: '?' };
  const where = describeLocator(hit.locator);
  let visual;
  if (PICTURED.has(hit.modality)) {
    const pictured = hit.best_region ? hit.best_region.id : hit.id; // a page shows its best region outlined
    visual = h('img', { src: itemUrl.thumbnail(pictured, 320), alt: altText(hit), loading: rank > 12 ? 'lazy' : 'eager', decoding: 'async', width: 320, height: 240 });
    visual.addEventListener('error', () => visual.replaceWith(h('span', { class: 'snippet' }, (hit.text || basename(hit.path)).slice(0, 240))), { once: true });
  } else {
    visual = h('span', { class: 'snippet' }, (hit.text || basename(hit.path)).replace(/\s+/g, ' ').slice(0, 240));
  }
  const badge = where ? h('span', { class: 'badge' }, where) : null;
  return h('li', {},
    h('button', { type: 'button', class: `card m-${hit.modality}`, dataset: { id: hit.id, rank }, 'aria-label': `${rank}. ${altText(hit)}`, onclick: () => onOpen(hit) },
      h('span', { class: 'thumb' }, visual, badge, h('span', { class: 'kind', 'aria-hidden': 'true' }, info.icon)),
      h('span', { class: 'meta' },
        h('span', { class: 'name', title: hit.path }, basename(hit.path)),
        hit.score != null ? h('span', { class: 'score', title: 'score' }, Number(hit.score).toFixed(3)) : null)));
}

function renderHits(hits) {
  const groups = new Map();
  hits.forEach((hit, i) => {
    if (!groups.has(hit.modality)) groups.set(hit.modality, []);
    groups.get(hit.modality).push([hit, i + 1]);
  });
  const sections = [];
  for (const [modality, entries] of groups) {
    const label = (MODALITY[modality] || { label: modality }).label;
    const id = `group-${modality}`;
    sections.push(h('section', { class: 'group', 'aria-labelledby': id },
      h('h2', { class: 'group-title', id }, `${label} `, h('span', { class: 'count' }, `(${entries.length})`)),
      h('ul', { class: 'grid', role: 'list' }, entries.map(([hit, rank]) => card(hit, rank, (x) => openDetail(x, hits))))));
  }
  $('#results').replaceChildren(...sections);
}

/** "More like this": search with an indexed image item as the query image. */
export function searchLike(hit) {
  setImage(null);
  state.like = hit.id;
  showQueryImage(itemUrl.thumbnail(hit.id, 160), `like ${basename(hit.path)}`);
  $('#q').value = '';
  location.hash = '#search';
  runSearch();
}

function acceptFiles(files) {
  const file = Array.from(files || []).find((f) => f.type.startsWith('image/'));
  if (!file) return false;
  setImage(file, file.name || 'pasted image');
  runSearch();
  return true;
}

export function initSearch({ onOpen }) {
  openDetail = onOpen;
  const form = $('#search-form');
  const zone = $('#drop-zone');
  const input = $('#image-input');
  form.addEventListener('submit', (event) => { event.preventDefault(); runSearch(); });
  $('#q').addEventListener('input', updateWeightRow);
  $('#syntax-toggle').addEventListener('click', (event) => {
    const help = $('#syntax-help');
    help.hidden = !help.hidden;
    event.currentTarget.setAttribute('aria-expanded', String(!help.hidden));
  });
  const weight = $('#weight');
  weight.addEventListener('input', () => {
    const share = Math.round(Number(weight.value) * 100);
    $('#weight-out').textContent = `${100 - share} / ${share}`;
  });
  weight.addEventListener('change', runSearch);
  zone.addEventListener('click', (event) => { if (event.target.id !== 'image-clear') input.click(); });
  zone.addEventListener('keydown', (event) => { if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); input.click(); } });
  input.addEventListener('change', () => { acceptFiles(input.files); input.value = ''; });
  $('#image-clear').addEventListener('click', () => { setImage(null); state.like = null; showQueryImage(null); zone.focus(); });
  const view = $('#view-search');
  for (const type of ['dragenter', 'dragover']) {
    view.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add('dragging'); });
  }
  view.addEventListener('dragleave', (event) => { if (!view.contains(event.relatedTarget)) zone.classList.remove('dragging'); });
  view.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    acceptFiles(event.dataTransfer.files);
  });
  document.addEventListener('paste', (event) => {
    if (view.hidden) return;
    if (acceptFiles(event.clipboardData && event.clipboardData.files)) event.preventDefault();
  });
  gridKeys($('#results'));
  $$('input[name=modality], select[name=k]', form).forEach((node) => node.addEventListener('change', () => { if (state.hits.length) runSearch(); }));
}

export function restoreFromHash(params) {
  const q = params.get('q');
  if (q && $('#q').value !== q) { $('#q').value = q; runSearch(); }
}
