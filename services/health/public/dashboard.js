/* global document, window, fetch, sessionStorage, setTimeout, clearTimeout, CSS */
// The source-health dashboard: polls the API, no framework, no build step, no inline code (CSP).
'use strict';

(function () {
  const REFRESH_MS = 5000;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const state = { token: sessionStorage.getItem('s1c-token') || '', sources: [], panelSourceId: null, tipFor: null, timer: undefined };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const child of children || []) node.append(child);
    return node;
  }

  async function api(path) {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    const response = await fetch(path, { headers, cache: 'no-store' });
    if (response.status === 401) {
      const error = new Error('unauthorized');
      error.unauthorized = true;
      throw error;
    }
    if (!response.ok) throw new Error('HTTP ' + response.status + ' from ' + path);
    return response.json();
  }

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    if (seconds < 90) return Math.round(seconds) + ' s';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min';
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + ' h';
    return Math.round(seconds / 86400) + ' d';
  }

  function when(iso) {
    if (!iso) return '—';
    const date = new Date(iso);
    return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  }

  function ago(iso) {
    if (!iso) return '';
    return duration((Date.now() - new Date(iso).getTime()) / 1000) + ' ago';
  }

  function statusIcon(level) {
    const paths = {
      healthy: [svg('circle', { cx: 12, cy: 12, r: 10, fill: 'currentColor' }), svg('path', { d: 'M7 12.5l3.2 3.2L17 9', stroke: '#fff', 'stroke-width': 2.4, fill: 'none', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' })],
      warning: [svg('path', { d: 'M12 2.5L22.5 21h-21z', fill: 'currentColor', 'stroke-linejoin': 'round' }), svg('path', { d: 'M12 9v5.5M12 17.6v.2', stroke: '#fff', 'stroke-width': 2.4, 'stroke-linecap': 'round' })],
      error: [svg('circle', { cx: 12, cy: 12, r: 10, fill: 'currentColor' }), svg('path', { d: 'M8.2 8.2l7.6 7.6M15.8 8.2l-7.6 7.6', stroke: '#fff', 'stroke-width': 2.4, 'stroke-linecap': 'round' })],
    };
    return svg('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true' }, paths[level]);
  }

  function countsText(source) {
    return plural(source.openErrors, 'error') + ', ' + plural(source.openWarnings, 'warning');
  }

  function showTooltip(anchor, text) {
    const tip = $('tooltip');
    tip.textContent = text;
    tip.hidden = false;
    const box = anchor.getBoundingClientRect();
    tip.style.left = Math.round(box.right + 8) + 'px';
    tip.style.top = Math.round(box.top + box.height / 2 - tip.offsetHeight / 2) + 'px';
  }

  function hideTooltip() {
    $('tooltip').hidden = true;
  }

  function sparkline(values) {
    const width = 120;
    const height = 20;
    const max = Math.max(1, ...values);
    const step = width / Math.max(1, values.length - 1);
    const points = values.map((v, i) => (i * step).toFixed(1) + ',' + (height - 1 - (v / max) * (height - 3)).toFixed(1)).join(' ');
    const total = values.reduce((a, b) => a + b, 0);
    const node = svg('svg', { class: 'spark', viewBox: '0 0 ' + width + ' ' + height, preserveAspectRatio: 'none', role: 'img' }, [
      svg('line', { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }),
      svg('polyline', { points }),
    ]);
    node.setAttribute('aria-label', total + ' records in the last hour, at most ' + Math.max(...values) + ' per minute');
    node.append(svg('title', {}, [document.createTextNode(total + ' records in the last hour (max ' + Math.max(...values) + '/min)')]));
    return node;
  }

  function backfillCell(a) {
    if (!a.backfill) {
      return el('span', { class: 'bar-label', text: a.checkpoint ? 'live only' : 'not planned yet' });
    }
    const percent = a.backfill.percent;
    const fill = el('span');
    fill.style.width = percent + '%';
    const bar = el('div', { class: 'bar' + (a.backfill.done ? ' done' : ''), role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(percent), 'aria-label': a.api + ' backfill' }, [fill]);
    return el('div', {}, [bar, el('span', { class: 'bar-label', text: a.backfill.done ? 'backfill done' : 'backfill ' + percent + '%' })]);
  }

  function apisCell(source) {
    const grid = el('div', { class: 'apis' });
    for (const a of source.apis) {
      const lag = el('span', { class: a.lagSeconds !== null && a.lagSeconds > 900 ? 'lag-high' : '', text: 'lag ' + duration(a.lagSeconds) });
      lag.title = a.checkpoint ? 'checkpoint ' + when(a.checkpoint) + (a.lastSuccessfulPollAt ? '; last successful poll ' + ago(a.lastSuccessfulPollAt) : '') : 'no checkpoint yet';
      grid.append(
        el('span', { class: 'api-name', text: a.api, title: a.records.total + ' records collected' }),
        backfillCell(a),
        lag,
        sparkline(a.recordsPerMinute),
      );
    }
    return grid;
  }

  function row(source) {
    const label = { healthy: 'Healthy', warning: 'Warning', error: 'Error' }[source.health];
    const button = el('button', { type: 'button', class: 'status-icon icon-' + source.health, 'aria-label': label + ': ' + countsText(source) + '. Show health events.', 'data-source-id': source.id }, [statusIcon(source.health)]);
    const show = () => {
      state.tipFor = source.id;
      showTooltip(button, countsText(source));
    };
    const hide = () => {
      state.tipFor = null;
      hideTooltip();
    };
    button.addEventListener('mouseenter', show);
    button.addEventListener('focus', show);
    button.addEventListener('mouseleave', hide);
    button.addEventListener('blur', hide);
    button.addEventListener('click', () => openPanel(source.id));
    const stateCell = el('td', {}, [
      el('span', { class: 'state state-' + source.state, text: source.state }),
      el('div', { class: 'sub', text: 'since ' + when(source.since) }),
    ]);
    stateCell.title = source.reason;
    return el('tr', { 'data-source-id': source.id, class: 'health-' + source.health }, [
      el('td', {}, [button]),
      el('td', {}, [el('div', { class: 'name', text: source.name }), source.description ? el('div', { class: 'sub', text: source.description }) : null]),
      el('td', { text: source.collectorId }),
      el('td', { text: source.category || '—' }),
      stateCell,
      el('td', {}, [apisCell(source)]),
    ]);
  }

  function render() {
    const rows = $('rows');
    rows.replaceChildren(...state.sources.map(row));
    // The rows were rebuilt under the pointer: keep the tooltip on the new icon, with fresh counts.
    const hovered = state.sources.find((s) => s.id === state.tipFor);
    const anchor = hovered && rows.querySelector('button[data-source-id="' + CSS.escape(hovered.id) + '"]');
    if (anchor) showTooltip(anchor, countsText(hovered));
    else hideTooltip();
    $('empty').hidden = state.sources.length > 0;
    const n = { healthy: 0, warning: 0, error: 0 };
    for (const s of state.sources) n[s.health]++;
    $('summary').replaceChildren(
      document.createTextNode(plural(state.sources.length, 'source') + ': '),
      el('span', { class: 'n-healthy', text: n.healthy + ' healthy' }),
      document.createTextNode(', '),
      el('span', { class: 'n-warning', text: n.warning + ' with warnings' }),
      document.createTextNode(', '),
      el('span', { class: 'n-error', text: n.error + ' in error' }),
    );
    $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString();
  }

  function eventItem(e) {
    const resolved = e.status === 'Healthy';
    return el('li', { class: 'sev-' + e.severityLevel + (resolved ? ' resolved' : ''), 'data-event-id': e.eventId }, [
      el('div', { class: 'event-head' }, [
        el('span', { class: 'event-name', text: e.eventName }),
        el('span', { text: resolved ? 'resolved' : e.severityLevel }),
      ]),
      el('div', {
        class: 'event-meta',
        text: when(e.eventTime) + ' · ' + (e.subsystem || '') + ' · ' + plural(e.occurrences, 'occurrence') + (e.retry && e.retry.nextAttemptAt && !resolved ? ' · next attempt ' + when(e.retry.nextAttemptAt) : ''),
      }),
      el('dl', {}, [
        el('dt', { text: 'Reason' }),
        el('dd', { class: 'event-reason', text: e.details.description }),
        el('dt', { text: 'What to do' }),
        el('dd', { class: 'event-action', text: e.action }),
      ]),
    ]);
  }

  async function loadPanel() {
    const id = state.panelSourceId;
    if (!id) return;
    const source = state.sources.find((s) => s.id === id);
    $('panel-source').textContent = source ? source.name + ' — ' + source.state + ', ' + countsText(source) + ' open' : '';
    const page = await api('/api/v1/sources/' + encodeURIComponent(id) + '/health-events?limit=100');
    if (state.panelSourceId !== id) return;
    const open = page.items.filter((e) => e.status !== 'Healthy');
    const resolved = page.items.filter((e) => e.status === 'Healthy');
    const items = open.concat(resolved).map(eventItem);
    $('panel-events').replaceChildren(...(items.length ? items : [el('li', { text: 'No health events.' })]));
  }

  function openPanel(id) {
    state.panelSourceId = id;
    $('panel').hidden = false;
    hideTooltip();
    loadPanel().catch(problem);
    $('panel-close').focus();
  }

  function closePanel() {
    state.panelSourceId = null;
    $('panel').hidden = true;
  }

  function problem(error) {
    if (error && error.unauthorized) {
      $('token-form').hidden = false;
      $('problem').hidden = true;
      return;
    }
    $('problem').textContent = 'Could not refresh: ' + (error && error.message ? error.message : String(error));
    $('problem').hidden = false;
  }

  async function refresh() {
    clearTimeout(state.timer);
    try {
      const page = await api('/api/v1/sources?limit=500');
      state.sources = page.items;
      $('problem').hidden = true;
      $('token-form').hidden = true;
      render();
      if (state.panelSourceId) await loadPanel();
    } catch (error) {
      problem(error);
    } finally {
      state.timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  $('panel-close').addEventListener('click', closePanel);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closePanel();
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.token = $('token-input').value.trim();
    sessionStorage.setItem('s1c-token', state.token);
    $('token-input').value = '';
    refresh();
  });
  window.addEventListener('scroll', hideTooltip, { passive: true });
  refresh();
})();
