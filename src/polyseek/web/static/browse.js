// Browse view: indexed files (paged, filterable) and the items of the chosen file.

import { api } from './api.js';
import { card } from './search.js';
import { $, h, basename, errorText, formatBytes, gridKeys } from './ui.js';

const PAGE = 50;
const state = { offset: 0, total: 0 };
let openDetail = () => {};

export async function loadFiles() {
  const params = new URLSearchParams({ offset: state.offset, limit: PAGE });
  const contains = $('#browse-filter').value.trim();
  if (contains) params.set('contains', contains);
  if ($('#browse-status').value) params.set('status', $('#browse-status').value);
  const list = $('#file-list');
  try {
    const answer = await api(`/api/files?${params}`);
    state.total = answer.total;
    list.replaceChildren(...answer.files.map((file) => h('li', {},
      h('button', { type: 'button', class: `file status-${file.status}`, title: file.path, onclick: () => showFile(file) },
        h('span', { class: 'name' }, basename(file.path)),
        h('span', { class: 'hint' }, file.status === 'ok' ? `${file.items} item${file.items === 1 ? '' : 's'} · ${formatBytes(file.size)}` : `failed: ${file.reason}`)))));
    if (!answer.files.length) list.replaceChildren(h('li', { class: 'hint' }, 'No indexed files match.'));
    const last = Math.min(state.offset + PAGE, state.total);
    $('#browse-page').textContent = state.total ? `${state.offset + 1}–${last} of ${state.total}` : '';
    $('#browse-prev').disabled = state.offset === 0;
    $('#browse-next').disabled = last >= state.total;
  } catch (error) {
    list.replaceChildren(h('li', { class: 'message', 'data-kind': 'error' }, errorText(error)));
  }
}

async function showFile(file) {
  const target = $('#file-items');
  target.replaceChildren(h('p', { class: 'hint' }, 'Loading…'));
  try {
    const answer = await api(`/api/files/items?${new URLSearchParams({ path: file.path })}`);
    const hits = answer.items.map((item) => ({ ...item, score: null }));
    target.replaceChildren(
      h('h2', {}, basename(file.path)),
      h('p', { class: 'hint' }, file.path),
      h('ul', { class: 'grid', role: 'list' }, hits.map((hit, i) => card(hit, i + 1, (x) => openDetail(x, hits)))));
  } catch (error) {
    target.replaceChildren(h('p', { class: 'message', 'data-kind': 'error' }, errorText(error)));
  }
}

export function initBrowse({ onOpen }) {
  openDetail = onOpen;
  $('#browse-form').addEventListener('submit', (event) => { event.preventDefault(); state.offset = 0; loadFiles(); });
  $('#browse-prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); loadFiles(); });
  $('#browse-next').addEventListener('click', () => { state.offset += PAGE; loadFiles(); });
  gridKeys($('#file-items'));
}
