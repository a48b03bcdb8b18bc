// Entry point: hash routing between views, the status line, token sign-in, global keys.

import { api, setUnauthorizedHandler } from './api.js';
import { initAsk } from './ask.js';
import { initBrowse, loadFiles } from './browse.js';
import { initConcepts, loadConcepts } from './concepts.js';
import { initDetail, openDetail } from './detail.js';
import { initIndexing, loadIndexView } from './indexing.js';
import { initRecommend } from './recommend.js';
import { initSearch, restoreFromHash, runSearch, searchLike } from './search.js';
import { $, $$, errorText, setMessage } from './ui.js';

const VIEWS = ['search', 'ask', 'browse', 'concepts', 'index'];
const loaders = { browse: loadFiles, concepts: loadConcepts, index: loadIndexView };

function route() {
  const [name, query] = location.hash.replace(/^#/, '').split('?');
  const view = VIEWS.includes(name) ? name : 'search';
  for (const other of VIEWS) $(`#view-${other}`).hidden = other !== view;
  for (const link of $$('.tabs a')) {
    if (link.dataset.tab === view) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  document.title = view === 'search' ? 'polyseek' : `${view[0].toUpperCase()}${view.slice(1)} · polyseek`;
  if (loaders[view]) loaders[view]();
  if (view === 'search') restoreFromHash(new URLSearchParams(query || ''));
}

let liveTimer = null;
export async function refreshStatus() {
  try {
    const status = await api('/api/status');
    const encoders = Object.values(status.encoders || {}).join(' + ');
    const watch = (status.server || {}).watch;  // serve --watch: the index follows the folders' changes
    const live = Boolean(watch && watch.live);
    $('#status-line').textContent = `${live ? '● live · ' : ''}${status.items.toLocaleString()} items · ${status.files.toLocaleString()} files${encoders ? ` · ${encoders}` : ''}`;
    $('#status-line').title = live ? `Live index: changes in ${watch.paths.join(', ')} are indexed within seconds` : '';
    $('#status-line').dataset.live = String(live);
    if (live && !liveTimer) liveTimer = setInterval(refreshStatus, 5000);
    const features = (status.server || {}).features || {};
    $('a[data-tab=ask]').hidden = features.ask === false;
    $('a[data-tab=concepts]').hidden = features.concepts === false;
  } catch (error) {
    $('#status-line').textContent = errorText(error);
  }
}

let signingIn = null;
function signIn() {
  if (signingIn) return signingIn;
  const dialog = $('#login');
  signingIn = new Promise((resolve) => {
    const form = $('#login-form');
    const submit = async (event) => {
      event.preventDefault();
      try {
        await api('/api/login', { method: 'POST', json: { token: $('#login-token').value } }, true);
        form.removeEventListener('submit', submit);
        dialog.close();
        signingIn = null;
        resolve();
      } catch (error) {
        setMessage($('#login-message'), errorText(error), 'error');
      }
    };
    form.addEventListener('submit', submit);
    dialog.showModal();
    $('#login-token').focus();
  });
  return signingIn;
}

function globalKeys(event) {
  const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(event.target.tagName) || event.target.isContentEditable;
  if (event.key === '/' && !typing && !$('#detail').open) {
    event.preventDefault();
    if (location.hash && !location.hash.startsWith('#search')) location.hash = '#search';
    $('#q').focus();
    $('#q').select();
  }
}

function boot() {
  setUnauthorizedHandler(signIn);
  initDetail({ like: searchLike, removed: () => { refreshStatus(); runSearch(); } });
  initSearch({ onOpen: openDetail });
  initRecommend({ onOpen: openDetail });
  initAsk({ onOpen: openDetail });
  initBrowse({ onOpen: openDetail });
  initConcepts();
  initIndexing({ finished: () => refreshStatus() });
  window.addEventListener('hashchange', route);
  $('.skip-link').addEventListener('click', (event) => { event.preventDefault(); $('#main').focus(); });
  document.addEventListener('keydown', globalKeys);
  route();
  refreshStatus();
  if (!location.hash || location.hash === '#search') $('#q').focus();
  document.documentElement.dataset.ready = 'true';
}

boot();
