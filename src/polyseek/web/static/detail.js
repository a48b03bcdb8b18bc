// Detail view: PDF page with the matched region outlined, video/audio from the moment, image with metadata.

import { api, itemUrl } from './api.js';
import { $, h, MODALITY, basename, describeLocator, errorText, formatBytes, formatTime } from './ui.js';

const view = { list: [], index: 0, seq: 0 };
let actions = {};

/** Open one hit (or citation: {id, path, locator, modality}); ``list`` enables previous/next. */
export function openDetail(hit, list = [hit]) {
  view.list = list.length ? list : [hit];
  view.index = Math.max(0, view.list.findIndex((x) => x.id === hit.id));
  const dialog = $('#detail');
  if (!dialog.open) {
    view.returnFocus = document.activeElement;
    dialog.showModal();
  }
  show();
}

async function show() {
  const hit = view.list[view.index];
  const seq = ++view.seq;
  const info = MODALITY[hit.modality] || { one: hit.modality };
  $('#detail-title').textContent = `${basename(hit.path)} ${describeLocator(hit.locator)}`.trim();
  $('#detail-prev').disabled = view.index <= 0;
  $('#detail-next').disabled = view.index >= view.list.length - 1;
  const body = $('#detail-body');
  body.replaceChildren(h('p', { class: 'hint' }, `Loading ${info.one}…`));
  let item;
  try {
    item = await api(`/api/items/${encodeURIComponent(hit.id)}`);
  } catch (error) {
    if (seq === view.seq) body.replaceChildren(h('p', { class: 'message', 'data-kind': 'error' }, errorText(error)));
    return;
  }
  if (seq !== view.seq) return;
  body.replaceChildren(media(item, hit), facts(item, hit));
  document.dispatchEvent(new CustomEvent('polyseek:viewed', { detail: item })); // recommend.js: "Because you viewed…"
  $('#detail-close').focus();
}

function media(item, hit) {
  const locator = item.locator || {};
  switch (item.modality) {
    case 'page':
    case 'region':
      if (locator.page == null) return tileView(item, item); // an image tile: the image with the tile's box
      return pageView(item, hit.best_region);
    case 'video_moment':
      return player('video', item, locator);
    case 'audio_segment':
      return player('audio', item, locator);
    case 'image':
      if (hit.best_region && hit.best_region.locator && hit.best_region.locator.bbox) return tileView(item, hit.best_region);
      return h('figure', { class: 'media' },
        h('img', { src: itemUrl.preview(item.id, 1600), alt: `Image ${item.file.name}`, class: 'full' }));
    default:
      return h('figure', { class: 'media text-media' }, h('pre', { class: 'passage' }, item.text || '(no text)'));
  }
}

/** The page render with the region drawn on top as a box positioned in percent of the page (CSP-safe CSSOM). */
function pageView(item, bestRegion) {
  const size = item.page_size;
  const bbox = item.locator.bbox || (bestRegion && bestRegion.locator && bestRegion.locator.bbox);
  if (!size || !item.links.page) {
    return h('figure', { class: 'media' }, h('img', { src: itemUrl.preview(item.id, 1600), alt: `Page ${item.locator.page} of ${item.file.name}, matched region outlined`, class: 'full' }));
  }
  const [width, height] = size;
  const frame = h('div', { class: 'page-frame' },
    h('img', { src: itemUrl.page(item.id, 1600), alt: `Page ${item.locator.page} of ${item.file.name}`, class: 'page-image', width: Math.round(width), height: Math.round(height) }));
  frame.style.setProperty('--ratio', `${width} / ${height}`);
  frame.style.width = `min(100%, calc(76vh * ${(width / height).toFixed(4)}))`; // the whole page fits on screen
  if (bbox) {
    const [x0, y0, x1, y1] = bbox;
    const box = h('div', { class: 'region-box', role: 'img', 'aria-label': 'Matched region', 'data-bbox': bbox.join(',') });
    box.style.left = `${(100 * x0) / width}%`;
    box.style.top = `${(100 * y0) / height}%`;
    box.style.width = `${(100 * (x1 - x0)) / width}%`;
    box.style.height = `${(100 * (y1 - y0)) / height}%`;
    frame.append(box);
  }
  return h('figure', { class: 'media page' }, frame, h('figcaption', {}, `Page ${item.locator.page}${bbox ? ', matched region outlined' : ''}`));
}

/** An image with the matching tile outlined: the server draws the box on the tile's preview (ingest/tiles.py). */
function tileView(item, tile) {
  const [x0, y0, x1, y1] = tile.locator.bbox.map(Math.round);
  return h('figure', { class: 'media' },
    h('img', { src: itemUrl.preview(tile.id, 1600), alt: `Image ${item.file.name}, matched part outlined`, class: 'full' }),
    h('figcaption', {}, `Matched part outlined: pixels ${x0},${y0} to ${x1},${y1}`));
}

/** Where a moment opens: its keyframe (the picture that matched) when it lies inside the moment, else its start. */
function momentTime(item, start, end) {
  const keyframe = Number((item.metadata || {}).keyframe_time);
  return Number.isFinite(keyframe) && keyframe >= start && keyframe <= end ? keyframe : start;
}

function player(kind, item, locator) {
  const start = Number(locator.start || 0);
  const end = Number(locator.end ?? start);
  const opening = momentTime(item, start, end);
  const attrs = { controls: true, preload: 'metadata', src: `${itemUrl.file(item.id)}#t=${opening}`, class: 'player' };
  if (kind === 'video') attrs.poster = itemUrl.thumbnail(item.id, 640);
  const element = h(kind, attrs);
  element.addEventListener('loadedmetadata', () => { if (Math.abs(element.currentTime - opening) > 0.25) element.currentTime = opening; }, { once: true });
  const jump = h('button', { type: 'button', class: 'ghost', onclick: () => { element.currentTime = start; element.play().catch(() => {}); } },
    `Play from ${formatTime(start)}`);
  return h('figure', { class: `media ${kind}` }, element,
    h('figcaption', {}, `Moment ${formatTime(start)}–${formatTime(end)} `, jump));
}

function facts(item, hit) {
  const rows = [
    ['Type', (MODALITY[item.modality] || { one: item.modality }).one],
    ['File', item.path],
    ['Where', describeLocator(item.locator)],
    ['Size', item.file.exists ? formatBytes(item.file.size) : 'file missing'],
    ['Modified', item.file.mtime ? new Date(item.file.mtime * 1000).toLocaleString() : ''],
  ];
  for (const [key, value] of Object.entries(item.metadata || {})) {
    if (value !== null && typeof value !== 'object') rows.push([key, String(value)]);
  }
  if (hit.scores) rows.push(['Scores', Object.entries(hit.scores).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(', ')]);
  const table = h('dl', { class: 'facts' }, rows.filter(([, v]) => v).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  const buttons = h('div', { class: 'row' },
    h('a', { class: 'button ghost', href: itemUrl.file(item.id), target: '_blank', rel: 'noopener' }, 'Open file'),
    h('button', { type: 'button', class: 'ghost', onclick: () => { close(); document.dispatchEvent(new CustomEvent('polyseek:more-like', { detail: item })); } }, 'More like this'),
    h('button', { type: 'button', class: 'ghost danger', onclick: () => removeItem(item) }, 'Remove from index'));
  const text = item.text && item.modality !== 'text' ? h('blockquote', { class: 'passage' }, item.text.slice(0, 2000)) : null;
  return h('div', { class: 'detail-facts' }, text, table, buttons);
}

async function removeItem(item) {
  if (!confirm(`Remove this ${(MODALITY[item.modality] || { one: 'item' }).one} from the index? The file stays on disk.`)) return;
  try {
    await api(`/api/items/${encodeURIComponent(item.id)}`, { method: 'DELETE' });
    close();
    if (actions.removed) actions.removed(item);
  } catch (error) {
    alert(errorText(error));
  }
}

function close() {
  const dialog = $('#detail');
  for (const element of dialog.querySelectorAll('video, audio')) element.pause();
  if (dialog.open) dialog.close();
}

export function initDetail(callbacks = {}) {
  actions = callbacks;
  const dialog = $('#detail');
  $('#detail-close').addEventListener('click', close);
  $('#detail-prev').addEventListener('click', () => { if (view.index > 0) { view.index -= 1; show(); } });
  $('#detail-next').addEventListener('click', () => { if (view.index < view.list.length - 1) { view.index += 1; show(); } });
  dialog.addEventListener('close', () => {
    for (const element of dialog.querySelectorAll('video, audio')) element.pause();
    $('#detail-body').replaceChildren();
    const target = view.returnFocus && document.querySelector(`.card[data-id="${CSS.escape(view.list[view.index].id)}"]`);
    (target || view.returnFocus)?.focus?.();
  });
  dialog.addEventListener('click', (event) => { if (event.target === dialog) close(); });
  dialog.addEventListener('keydown', (event) => {
    if (['INPUT', 'TEXTAREA', 'VIDEO', 'AUDIO'].includes(event.target.tagName)) return;
    if (event.key === 'ArrowRight' && !$('#detail-next').disabled) { event.preventDefault(); $('#detail-next').click(); }
    if (event.key === 'ArrowLeft' && !$('#detail-prev').disabled) { event.preventDefault(); $('#detail-prev').click(); }
  });
}
