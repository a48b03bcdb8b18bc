// Concept memory editor: list, create, edit (description, attributes, reference images), delete, import.

import { api } from './api.js';
import { $, h, errorText, setMessage } from './ui.js';

let editing = null;

function parseAttributes(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const cut = line.indexOf(':');
    if (cut < 0) { if (line.trim()) throw new Error(`attribute line "${line.trim()}" needs a colon: key: value`); continue; }
    const key = line.slice(0, cut).trim();
    const value = line.slice(cut + 1).trim();
    if (key) out[key] = value;
  }
  return out;
}

function attributesText(attributes) {
  return Object.entries(attributes || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
}

export async function loadConcepts() {
  const list = $('#concept-list');
  try {
    const { concepts } = await api('/api/concepts');
    if (!concepts.length) {
      list.replaceChildren(h('li', { class: 'hint' }, 'No concepts yet.'));
      return;
    }
    list.replaceChildren(...concepts.map((concept) => h('li', { class: 'concept' },
      h('div', { class: 'concept-head' },
        h('h3', {}, concept.name),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'ghost small', onclick: () => edit(concept) }, 'Edit'),
          h('button', { type: 'button', class: 'ghost small danger', onclick: () => remove(concept) }, 'Delete'))),
      concept.description ? h('p', {}, concept.description) : null,
      Object.keys(concept.attributes || {}).length
        ? h('dl', { class: 'facts' }, Object.entries(concept.attributes).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])) : null,
      concept.image_urls.length
        ? h('div', { class: 'concept-images' }, concept.image_urls.map((url, i) => h('img', { src: url, alt: `${concept.name}, reference image ${i + 1}`, width: 72, height: 72, loading: 'lazy' }))) : null)));
  } catch (error) {
    list.replaceChildren(h('li', { class: 'message', 'data-kind': 'error' }, errorText(error)));
  }
}

function edit(concept) {
  editing = concept.name;
  const form = $('#concept-form');
  form.name.value = concept.name;
  form.name.readOnly = true;
  form.description.value = concept.description || '';
  form.attributes.value = attributesText(concept.attributes);
  form.images.value = '';
  $('#concept-form-title').textContent = `Edit ${concept.name}`;
  $('#concept-cancel').hidden = false;
  $('#replace-images-row').hidden = !concept.images.length;
  form.description.focus();
}

function reset() {
  editing = null;
  const form = $('#concept-form');
  form.reset();
  form.name.readOnly = false;
  $('#concept-form-title').textContent = 'New concept';
  $('#concept-cancel').hidden = true;
  $('#replace-images-row').hidden = true;
}

async function remove(concept) {
  if (!confirm(`Delete the concept "${concept.name}"?`)) return;
  try {
    await api(`/api/concepts/${encodeURIComponent(concept.name)}`, { method: 'DELETE' });
    if (editing === concept.name) reset();
    loadConcepts();
  } catch (error) {
    setMessage($('#concept-message'), errorText(error), 'error');
  }
}

async function save(event) {
  event.preventDefault();
  const form = $('#concept-form');
  const message = $('#concept-message');
  let attributes;
  try { attributes = parseAttributes(form.attributes.value); } catch (error) { setMessage(message, error.message, 'error'); return; }
  const data = new FormData();
  if (!editing) data.append('name', form.name.value.trim());
  data.append('description', form.description.value);
  data.append('attributes', JSON.stringify(attributes));
  for (const file of form.images.files) data.append('images', file, file.name);
  if (editing) data.append('keep_images', String(!form.replace_images.checked));
  setMessage(message, 'Saving…');
  try {
    const path = editing ? `/api/concepts/${encodeURIComponent(editing)}` : '/api/concepts';
    const saved = await api(path, { method: editing ? 'PATCH' : 'POST', form: data });
    setMessage(message, `Saved ${saved.name}.`, 'ok');
    reset();
    loadConcepts();
  } catch (error) {
    setMessage(message, errorText(error), 'error');
  }
}

async function importFile(event) {
  const file = event.target.files[0];
  event.target.value = '';
  if (!file) return;
  const message = $('#concept-message');
  try {
    const parsed = JSON.parse(await file.text());
    const items = Array.isArray(parsed) ? parsed : parsed.concepts;
    const { imported } = await api('/api/concepts/import', { method: 'POST', json: { items } });
    setMessage(message, `Imported ${imported} concept${imported === 1 ? '' : 's'}.`, 'ok');
    loadConcepts();
  } catch (error) {
    setMessage(message, errorText(error), 'error');
  }
}

export function initConcepts() {
  $('#concept-form').addEventListener('submit', save);
  $('#concept-cancel').addEventListener('click', reset);
  $('#concept-import').addEventListener('change', importFile);
}
