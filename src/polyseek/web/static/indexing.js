// Index view: start a job on a root folder and watch its progress live (server-sent events).

import { api } from './api.js';
import { $, h, basename, errorText, setMessage } from './ui.js';

const watching = new Map();
let onFinished = () => {};

function jobRow(job) {
  const total = job.files_total || 0;
  const progress = h('progress', { max: Math.max(total, 1), value: job.state === 'done' ? Math.max(total, 1) : job.files_done, 'aria-label': `Progress of ${basename(job.target)}` });
  let detail = '';
  if (job.state === 'running') {
    detail = total ? `${job.files_done} of ${total} files` : 'scanning…';
    if (job.current) detail += ` — ${basename(job.current)}${job.detail ? ` ${job.detail}` : ''}`;
  } else if (job.state === 'done' && job.summary) {
    const s = job.summary;
    detail = `added ${s.added}, updated ${s.updated}, removed ${s.removed}, unchanged ${s.unchanged}, failed ${s.failed.length} — ${s.items} items in ${s.seconds.toFixed(1)} s`;
  } else if (job.state === 'failed' && job.error) {
    detail = job.error.message;
  } else if (job.state === 'queued') {
    detail = 'waiting for the job before it';
  }
  const cancel = ['queued', 'running'].includes(job.state)
    ? h('button', { type: 'button', class: 'ghost small', onclick: () => api(`/api/index/jobs/${job.id}`, { method: 'DELETE' }).catch(() => {}) }, 'Cancel') : null;
  const failures = job.summary && job.summary.failed.length
    ? h('details', {}, h('summary', {}, `${job.summary.failed.length} file(s) skipped`),
      h('ul', {}, job.summary.failed.slice(0, 50).map((f) => h('li', {}, `${basename(f.path)}: ${f.reason}`)))) : null;
  const refused = job.refused && job.refused.length
    ? h('p', { class: 'hint' }, `${job.refused.length} link(s) pointing outside the roots were not followed.`) : null;
  return h('li', { class: `job state-${job.state}`, dataset: { id: job.id, state: job.state } },
    h('div', { class: 'job-head' }, h('strong', {}, job.target), h('span', { class: 'badge' }, job.state), cancel),
    progress, h('p', { class: 'job-detail' }, detail), failures, refused);
}

function upsert(job) {
  const list = $('#job-list');
  const row = jobRow(job);
  const old = list.querySelector(`[data-id="${job.id}"]`);
  if (old) old.replaceWith(row); else list.prepend(row);
}

function watch(job) {
  if (watching.has(job.id) || ['done', 'failed', 'cancelled'].includes(job.state)) return;
  const source = new EventSource(`/api/index/jobs/${encodeURIComponent(job.id)}/events`);
  watching.set(job.id, source);
  source.addEventListener('progress', (event) => upsert(JSON.parse(event.data)));
  source.addEventListener('end', (event) => {
    const done = JSON.parse(event.data);
    upsert(done);
    source.close();
    watching.delete(job.id);
    onFinished(done);
  });
  source.onerror = () => { source.close(); watching.delete(job.id); setTimeout(() => refreshJob(job.id), 1000); };
}

async function refreshJob(id) {
  try { const job = await api(`/api/index/jobs/${encodeURIComponent(id)}`); upsert(job); watch(job); } catch (_) { /* gone */ }
}

export async function loadIndexView() {
  const select = $('#index-root');
  try {
    const [{ roots }, { jobs }] = await Promise.all([api('/api/roots'), api('/api/index/jobs')]);
    select.replaceChildren(...roots.map((root) => h('option', { value: root.index }, root.path)));
    const disabled = !roots.length;
    $('#index-form').querySelector('button[type=submit]').disabled = disabled;
    if (disabled) setMessage($('#index-message'), 'Indexing from the browser is off: start the server with --root FOLDER.', 'info');
    $('#job-list').replaceChildren(...jobs.map(jobRow));
    jobs.forEach(watch);
  } catch (error) {
    setMessage($('#index-message'), errorText(error), 'error');
  }
}

async function start(event) {
  event.preventDefault();
  const message = $('#index-message');
  try {
    const job = await api('/api/index/jobs', { method: 'POST', json: { root: Number($('#index-root').value), path: $('#index-path').value.trim() } });
    setMessage(message, `Started indexing ${job.target}.`, 'ok');
    upsert(job);
    watch(job);
  } catch (error) {
    setMessage(message, errorText(error), 'error');
  }
}

export function initIndexing({ finished }) {
  onFinished = finished;
  $('#index-form').addEventListener('submit', start);
}
