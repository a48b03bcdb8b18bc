// Ask view: streams the answer token by token; [n] markers become buttons that open the cited item.

import { postStream } from './api.js';
import { $, h, MODALITY, basename, describeLocator, errorText } from './ui.js';

let openDetail = () => {};
let controller = null;
let citations = [];

function citationHit(citation) {
  return { id: citation.id, path: citation.path, locator: citation.locator || {}, modality: citation.modality, text: citation.snippet || '' };
}

function openCitation(number) {
  const index = citations.findIndex((c, i) => (c.number || i + 1) === number);
  if (index < 0) return;
  const hits = citations.map(citationHit);
  openDetail(hits[index], hits);
}

/** Answer text with [n] (and [n, m]) markers turned into citation buttons. */
function renderAnswer(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    out.push(text.slice(last, match.index));
    const numbers = match[1].split(',').map((n) => Number(n.trim()));
    out.push(h('span', { class: 'cite-group' }, '[', numbers.map((n, i) => [
      i ? ', ' : '',
      h('button', { type: 'button', class: 'cite', dataset: { n }, 'aria-label': `Source ${n}`, onclick: () => openCitation(n) }, String(n)),
    ]), ']'));
    last = match.index + match[0].length;
  }
  out.push(text.slice(last));
  $('#answer-text').replaceChildren(...out.flat());
}

function renderCitations(list) {
  citations = list || [];
  $('#citations').replaceChildren(...citations.map((c, i) => {
    const n = c.number || i + 1;
    return h('li', { value: n },
      h('button', { type: 'button', class: 'link', onclick: () => openCitation(n) },
        `${basename(c.path)} ${describeLocator(c.locator)}`.trim()),
      h('span', { class: 'hint' }, ` ${(MODALITY[c.modality] || { one: c.modality }).one}`),
      c.snippet ? h('span', { class: 'snippet' }, c.snippet.slice(0, 240)) : null);
  }));
}

/** A model that wrote nothing usable: say so, name it, and list the sources it was given (never a blank). */
function renderNoAnswer(done) {
  $('#answer-text').replaceChildren(h('p', { class: 'message', 'data-kind': 'empty' },
    `No answer: ${done.generator || 'the generator'} wrote nothing usable for this question. ` +
    'The sources it was given are listed below.'));
  renderCitations((done.context || []).map((block, i) => ({ ...block, number: i + 1 })));
}

async function ask(event) {
  event.preventDefault();
  const question = $('#question').value.trim();
  if (!question) return;
  if (controller) controller.abort();
  controller = new AbortController();
  const answer = $('#answer');
  answer.hidden = false;
  answer.setAttribute('aria-busy', 'true');
  $('#ask-stop').hidden = false;
  let text = '';
  $('#answer-text').replaceChildren(h('span', { class: 'hint' }, 'Looking through your collection…'));
  renderCitations([]);
  const image = $('#ask-image').files[0];
  const request = { signal: controller.signal };
  if (image) {
    const form = new FormData();
    form.append('question', question);
    form.append('image', image, image.name);
    request.form = form;
  } else {
    request.json = { question };
  }
  try {
    await postStream('/api/ask', request, (name, data) => {
      if (name === 'context') renderCitations(data.citations);
      else if (name === 'token') { text += data.text; renderAnswer(text); }
      else if (name === 'done') {
        text = data.answer || '';
        if (text.trim()) { renderAnswer(text); renderCitations(data.citations); } else { renderNoAnswer(data); }
      }
      else if (name === 'error') {
        $('#answer-text').replaceChildren(h('p', { class: 'message', 'data-kind': 'error' }, `${data.message} (${data.code})`));
      }
    });
  } catch (error) {
    if (error.name !== 'AbortError') {
      $('#answer-text').replaceChildren(h('p', { class: 'message', 'data-kind': 'error' }, errorText(error)));
    }
  } finally {
    answer.setAttribute('aria-busy', 'false');
    $('#ask-stop').hidden = true;
  }
}

export function initAsk({ onOpen }) {
  openDetail = onOpen;
  $('#ask-form').addEventListener('submit', ask);
  $('#question').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); $('#ask-form').requestSubmit(); }
  });
  $('#ask-stop').addEventListener('click', () => controller && controller.abort());
}
