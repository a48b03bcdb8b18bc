// Small DOM helpers shared by the views: element builder (text only, never HTML strings), formatting, grid keys.

/** h('a', {href: '#', class: 'x', onclick: fn}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

export const MODALITY = {
  image: { label: 'Images', one: 'image', icon: '▣' },
  page: { label: 'PDF pages', one: 'PDF page', icon: '▤' },
  region: { label: 'PDF regions', one: 'PDF region', icon: '⬚' },
  video_moment: { label: 'Video moments', one: 'video moment', icon: '▶' },
  audio_segment: { label: 'Audio', one: 'audio segment', icon: '♪' },
  text: { label: 'Text', one: 'text passage', icon: '¶' },
};
export const PICTURED = new Set(['image', 'page', 'region', 'video_moment']);

export function basename(path) {
  const parts = String(path || '').split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

export function formatTime(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const mm = String(minutes).padStart(2, '0');
  const ss = String(secs).padStart(2, '0');
  return hours ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

/** "p. 3", "01:12–01:20", "lines 4–9" */
export function describeLocator(locator = {}) {
  const parts = [];
  if (locator.page != null) parts.push(`p. ${locator.page}`);
  if (locator.start != null) parts.push(`${formatTime(locator.start)}–${formatTime(locator.end ?? locator.start)}`);
  if (locator.line_start != null) parts.push(`lines ${locator.line_start}–${locator.line_end ?? locator.line_start}`);
  return parts.join(' ');
}

/** Alt text: what it is, where it is, and the start of its text. */
export function altText(hit) {
  const kind = (MODALITY[hit.modality] || {}).one || hit.modality;
  const where = describeLocator(hit.locator);
  const snippet = (hit.text || '').replace(/\s+/g, ' ').trim().slice(0, 120);
  return [`${kind} from ${basename(hit.path)}`, where, snippet].filter(Boolean).join(', ');
}

export function setMessage(node, text, kind = '') {
  node.textContent = text || '';
  node.dataset.kind = kind;
}

export function errorText(error) {
  if (!error) return '';
  return error.hint ? `${error.message} (${error.hint})` : (error.message || String(error));
}

/** Arrow keys move focus between the focusable cards of a grid, row-aware; Home/End jump to the ends. */
export function gridKeys(container, selector = '.card') {
  container.addEventListener('keydown', (event) => {
    if (!['ArrowRight', 'ArrowLeft', 'ArrowDown', 'ArrowUp', 'Home', 'End'].includes(event.key)) return;
    const cards = $$(selector, container);
    const index = cards.indexOf(document.activeElement);
    if (index < 0) return;
    let next = index;
    if (event.key === 'ArrowRight') next = index + 1;
    else if (event.key === 'ArrowLeft') next = index - 1;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = cards.length - 1;
    else {
      const here = cards[index].getBoundingClientRect();
      const down = event.key === 'ArrowDown';
      let best = null;
      let bestScore = Infinity;
      cards.forEach((card, i) => {
        const box = card.getBoundingClientRect();
        const dy = down ? box.top - here.bottom : here.top - box.bottom;
        if (dy < -1) return;
        const score = dy * 4 + Math.abs(box.left - here.left);
        if (score < bestScore) { bestScore = score; best = i; }
      });
      if (best === null) return;
      next = best;
    }
    next = Math.max(0, Math.min(cards.length - 1, next));
    event.preventDefault();
    cards[next].focus();
    cards[next].scrollIntoView({ block: 'nearest' });
  });
}
