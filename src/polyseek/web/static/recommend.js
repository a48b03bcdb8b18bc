// Recommendations in the UI: "More like this" (examples → POST /api/recommend) and a "Because you viewed…" strip
// built from the items this browser opened (kept in localStorage, never sent anywhere but this server).

import { api } from './api.js';
import { $, h, basename, errorText } from './ui.js';
import { card } from './search.js';

const KEY = 'polyseek.viewed';
const KEEP = 30;
let openDetail = () => {};

function viewed() {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || '[]');
    return Array.isArray(list) ? list.filter((x) => x && typeof x.item === 'string') : [];
  } catch (_) {
    return [];
  }
}

/** Remember that an item was opened (the newest last; one entry per item). */
export function remember(item) {
  const list = viewed().filter((x) => x.item !== item.id);
  list.push({ item: item.id, timestamp: Date.now() / 1000, name: basename(item.path) });
  try { localStorage.setItem(KEY, JSON.stringify(list.slice(-KEEP))); } catch (_) { /* private mode: no memory */ }
}

function grid(hits) {
  return h('ul', { class: 'grid', role: 'list' }, hits.map((hit, i) => card(hit, i + 1, (x) => openDetail(x, hits))));
}

/** Replace the search results with items like ``item`` (never the item itself). */
export async function moreLikeThis(item) {
  location.hash = '#search';
  const results = $('#results');
  const summary = $('#search-summary');
  summary.textContent = `Finding items like ${basename(item.path)}…`;
  results.setAttribute('aria-busy', 'true');
  try {
    const answer = await api('/api/recommend', { method: 'POST', json: { positive: [item.id], k: 24 } });
    summary.textContent = `${answer.hits.length} items like ${basename(item.path)} (${Math.round(answer.took_ms)} ms)`;
    summary.dataset.kind = '';
    const id = 'group-like';
    results.replaceChildren(h('section', { class: 'group', 'aria-labelledby': id },
      h('h2', { class: 'group-title', id }, 'More like this'), grid(answer.hits)));
  } catch (error) {
    summary.textContent = errorText(error);
    summary.dataset.kind = 'error';
  } finally {
    results.setAttribute('aria-busy', 'false');
  }
}

/** The strip above the results: what to look at next, from this browser's recently opened items. */
export async function refreshStrip() {
  const strip = $('#because-strip');
  const history = viewed();
  if (!strip || !history.length) { if (strip) strip.hidden = true; return; }
  try {
    const answer = await api('/api/recommend', { method: 'POST', json: {
      history: history.map(({ item, timestamp }) => ({ item, timestamp })), k: 8 } });
    if (!answer.hits.length) { strip.hidden = true; return; }
    const last = history[history.length - 1].name || 'your recent items';
    strip.replaceChildren(h('h2', { class: 'group-title', id: 'because-title' }, `Because you viewed ${last}`), grid(answer.hits));
    strip.hidden = false;
  } catch (_) {
    strip.hidden = true; // items may have left the index: the strip is a hint, not an error
  }
}

export function initRecommend({ onOpen }) {
  openDetail = onOpen;
  const strip = h('section', { id: 'because-strip', class: 'group because-strip', 'aria-labelledby': 'because-title', hidden: true });
  $('#results').before(strip);
  document.addEventListener('polyseek:viewed', (event) => remember(event.detail));
  document.addEventListener('polyseek:more-like', (event) => moreLikeThis(event.detail));
  $('#detail').addEventListener('close', () => refreshStrip());
  refreshStrip();
}
