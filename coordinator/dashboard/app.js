// Flotilla dashboard (docs/dashboard.md). Read-only: it GETs the coordinator's
// /api/ documents (the control protocol's --json documents) and redraws when
// /api/stream says something changed. Every text from the coordinator (agent
// ids, labels, messages) is attacker-controlled: the DOM is built with
// createElement and textContent only, never innerHTML, and links are made
// from '#/' plus encodeURIComponent.
'use strict';

(function () {
  const main = document.getElementById('main');
  const live = document.getElementById('live');
  const kMaxRows = 2000;     // rows a table draws; filters narrow the rest
  const kMaxEvents = 300;    // newest events the rollout page lists
  const kMaxHostRows = 300;  // hosts not healthy listed under the grid
  const kReopenMs = 3000;    // a refused stream is opened again after this

  // ------------------------------------------------------------ DOM helpers

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = String(v);
        else if (k === 'href') node.setAttribute('href', v);
        else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, String(v));
      }
    }
    for (const c of children) append(node, c);
    return node;
  }
  function append(node, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { for (const x of c) append(node, x); return; }
    node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  const svgNs = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const node = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function link(hash, text) { return el('a', { href: hash, text }); }
  function rolloutLink(id, text) { return link('#/rollout/' + encodeURIComponent(id), text || id); }
  function appLink(app) { return link('#/app/' + encodeURIComponent(app), app); }
  function state(s) { return el('span', { class: 'state s-' + cssName(s), text: s || '?' }); }
  function cssName(s) { return String(s || '').replace(/[^a-z_]/g, ''); }
  function table(headers, rows) {
    return el('table', null,
      el('thead', null, el('tr', null, headers.map((h) => el('th', { text: h })))),
      el('tbody', null, rows));
  }
  function td(content, cls) { return el('td', cls ? { class: cls } : null, content); }
  // The value of key k of a parsed document, never one of Object.prototype: an agent
  // named "constructor" or an app named "toString" is a name like any other.
  function own(obj, k) { return obj && Object.prototype.hasOwnProperty.call(obj, k) ? obj[k] : undefined; }

  // ------------------------------------------------------------ formatting

  function when(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }
  function seconds(s) {
    if (s === null || s === undefined || isNaN(s)) return '–';
    s = Math.round(s);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + (s % 60 ? ' ' + (s % 60) + 's' : '');
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  }
  function percent(x) { return x === null || x === undefined ? '–' : (100 * x).toFixed(1) + '%'; }
  function durationOf(r, hist) {
    if (hist && hist.duration !== null && hist.duration !== undefined) return seconds(hist.duration);
    const from = r.started_at || r.submitted_at;
    if (!from) return '–';
    const to = r.finished_at ? new Date(r.finished_at) : new Date();
    return seconds((to - new Date(from)) / 1000);
  }
  function totals(waves) {
    const t = { hosts: 0, healthy: 0, failed: 0, unreachable: 0 };
    for (const w of waves || []) { t.hosts += w.hosts; t.healthy += w.healthy; t.failed += w.failed; t.unreachable += w.unreachable; }
    return t;
  }
  const kFinished = new Set(['succeeded', 'failed', 'rolled_back', 'aborted', 'refused']);

  // ------------------------------------------------------------ data

  async function getJson(path) {
    const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401) throw new Error('401: this page needs the dashboard token: open /login#token=TOKEN once');
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error((body && body.error && body.error.message) || res.status + ' ' + res.statusText);
    return body;
  }

  // ------------------------------------------------------------ views

  function rolloutRow(r, hist) {
    const t = totals(r.waves);
    const n = (r.waves || []).length;
    const k = Math.min(r.current_wave + 1, n);
    const wave = !n ? '–' : r.state === 'succeeded' ? 'all ' + n + ' waves' : kFinished.has(r.state) ? 'stopped at wave ' + k + ' of ' + n : 'wave ' + k + ' of ' + n;
    return el('tr', { 'data-rollout': r.id, 'data-state': r.state },
      td(appLink(r.app)), td(rolloutLink(r.id, r.version)), td(state(r.state)), td(wave),
      td(t.healthy + ' / ' + t.failed + ' / ' + t.unreachable, 'num'),
      td(r.submitted_by || '–'), td(when(r.started_at || r.submitted_at)), td(durationOf(r, hist), 'num'));
  }

  function rolloutsView(data) {
    const finished = new Map(data.finished.map((r) => [r.id, r]));
    const hist = new Map(data.history.map((h) => [h.id, h]));
    const active = new Set(data.rollouts.map((r) => r.id));
    const rows = data.rollouts.map((r) => rolloutRow(r, hist.get(r.id)));
    for (const h of data.history) {
      if (active.has(h.id)) continue;
      const doc = finished.get(h.id) || { id: h.id, app: h.app, version: h.version, waves: [], current_wave: 0 };
      rows.push(rolloutRow(Object.assign({}, doc, {
        app: h.app, version: h.version, state: h.state, submitted_by: h.submitted_by,
        submitted_at: h.submitted_at, started_at: h.started_at, finished_at: h.finished_at }), h));
    }
    return [el('h1', { text: 'Rollouts' }),
      el('p', { class: 'muted', text: data.rollouts.length + ' active, ' + data.history.length + ' recorded' }),
      table(['App', 'Version', 'State', 'Wave', 'Healthy / failed / unreachable', 'Who', 'Started', 'Duration'], rows)];
  }

  const hostColours = {
    healthy: '#1f9d55', failed: '#d6303a', rollback_failed: '#d6303a', unreachable: '#e07b00',
    deploying: '#2f6fdf', rolling_back: '#8a4fd6', rolled_back: '#7b5ea7', pending: '#b8bfca'
  };

  // Every host as one cell of a canvas: 10,000 hosts are one drawing, not 10,000 nodes.
  function hostGrid(hosts) {
    const width = Math.max(320, main.clientWidth - 60);  // inside main's padding
    const cell = hosts.length > 4000 ? 7 : hosts.length > 1000 ? 10 : 16;
    const cols = Math.max(1, Math.min(hosts.length, Math.floor(width / cell)));
    const rows = Math.max(1, Math.ceil(hosts.length / cols));
    const canvas = el('canvas', { class: 'hosts', width: cols * cell, height: rows * cell, 'data-hosts': hosts.length });
    const ctx = canvas.getContext('2d');
    const gap = cell > 8 ? 2 : 1;
    for (let i = 0; i < hosts.length; ++i) {
      ctx.fillStyle = hostColours[hosts[i].state] || '#b8bfca';
      ctx.fillRect((i % cols) * cell, Math.floor(i / cols) * cell, cell - gap, cell - gap);
    }
    const info = el('div', { class: 'hostinfo muted', text: 'Point at a cell to see its host.' });
    canvas.addEventListener('mousemove', (e) => {
      const rect = canvas.getBoundingClientRect();
      const i = Math.floor((e.clientY - rect.top) / cell) * cols + Math.floor((e.clientX - rect.left) / cell);
      const h = hosts[i];
      info.textContent = h ? h.id + ' · wave ' + (h.wave + 1) + ' · ' + h.state + (h.phase ? ' (' + h.phase + ')' : '') +
        (h.message ? ' · ' + h.message : '') : '';
    });
    const counts = {};
    for (const h of hosts) counts[h.state] = (counts[h.state] || 0) + 1;
    const legend = el('div', { class: 'legend' }, Object.keys(counts).sort().map((s) =>
      el('span', { 'data-host-state': s }, el('span', { class: 'swatch s-' + cssName(s) }), s + ' ' + counts[s])));
    return [legend, canvas, info];
  }

  function waveTimeline(r) {
    return el('div', { class: 'timeline' }, (r.waves || []).map((w) => {
      const pct = (x) => 'w' + (w.hosts ? Math.round((10 * x) / w.hosts) * 10 : 0);
      return el('div', { class: 'wave s-' + cssName(w.state) + (w.index === r.current_wave && !kFinished.has(r.state) ? ' current' : ''),
        'data-wave': w.index },
        el('strong', { text: 'Wave ' + (w.index + 1) }), ' ', state(w.state),
        el('div', { class: 'muted', text: w.hosts + ' hosts · ' + w.healthy + ' healthy · ' + w.failed + ' failed · ' + w.unreachable + ' unreachable' }),
        el('div', { class: 'muted', text: 'allows ' + w.max_failed + ' failed, ' + w.max_unreachable + ' unreachable' }),
        el('div', { class: 'bar' }, el('span', { class: 'healthy ' + pct(w.healthy) }),
          el('span', { class: 'failed ' + pct(w.failed) }), el('span', { class: 'unreachable ' + pct(w.unreachable) })));
    }));
  }

  function figure(x) { return typeof x === 'number' ? x.toPrecision(4) : '–'; }

  function analysisTable(a) {
    if (!a || !a.waves || !a.waves.length) return null;
    const rows = [];
    for (const w of a.waves) {
      for (const m of w.metrics) {
        rows.push(el('tr', { 'data-analysis-wave': w.wave }, td('wave ' + (w.wave + 1) + (w.final ? '' : ' (so far)')), td(w.outcome + ' ' + Math.round(w.score)),
          td(m.metric), td(state(m.verdict)), td(figure(m.canary), 'num'), td(figure(m.baseline), 'num'), td(m.test), td(m.why)));
      }
    }
    return [el('h2', { text: 'Analysis (pass ≥ ' + a.pass_score + ', marginal ≥ ' + a.marginal_score + ')' }),
      table(['Wave', 'Verdict', 'Metric', 'Result', 'Canary', 'Baseline', 'Test', 'Why'], rows)];
  }

  // Why a rollout did not succeed, in words: the wave that failed and its budget, the first
  // host failure or failing analysis, and how it ended.
  function failureReason(r, events) {
    if (!['failed', 'rolled_back', 'aborted', 'rolling_back', 'refused', 'paused'].includes(r.state)) return [];
    const lines = [];
    const wave = events.find((e) => e.kind === 'wave_failed');
    if (wave) lines.push('Wave ' + (wave.wave === null || wave.wave === undefined ? '' : wave.wave + 1 + ' ') + 'failed: ' + wave.message + '.');
    const host = events.find((e) => e.kind === 'host_failed' || e.kind === 'host_unreachable');
    if (host) lines.push('First failure: ' + (host.agent || '?') + ': ' + host.message + '.');
    const verdict = events.find((e) => e.kind === 'analysis_verdict' && /^fail/.test(e.message));
    if (verdict) lines.push('Analysis: ' + verdict.message + '.');
    const actor = events.filter((e) => e.actor && e.kind !== 'submitted').pop();
    if (actor) lines.push(actor.kind.replace(/_/g, ' ') + ' by ' + actor.actor + (actor.message ? ': ' + actor.message : '') + '.');
    if (r.message) lines.push('Outcome: ' + r.message + '.');
    return lines;
  }

  function rolloutView(data) {
    const r = data.rollout;
    const hosts = r.hosts || [];
    const t = totals(r.waves);
    const out = [el('h1', null, appLink(r.app), ' ', r.version, ' ', state(r.state)),
      el('dl', { class: 'meta card' },
        [['Rollout', r.id], ['Submitted by', r.submitted_by || '–'], ['Submitted', when(r.submitted_at)],
          ['Started', when(r.started_at)], ['Finished', when(r.finished_at)], ['Duration', durationOf(r)],
          ['Hosts', t.hosts + ' (' + t.healthy + ' healthy, ' + t.failed + ' failed, ' + t.unreachable + ' unreachable)']]
          .map(([k, v]) => el('div', null, el('dt', { text: k }), el('dd', { text: v }))))];
    if (r.gate) out.push(el('div', { class: 'card gate' }, el('strong', { text: 'Waiting for: ' }), r.gate));
    if (r.approvals) {
      out.push(el('div', { class: 'card approvals' }, el('strong', { text: 'Approvals: ' }),
        r.approvals.have + ' of ' + r.approvals.required + (r.approvals.by.length ? ' (' + r.approvals.by.join(', ') + ')' : '') +
        ', each valid for ' + r.approvals.ttl));
    }
    const why = failureReason(r, data.events);
    if (why.length) out.push(el('div', { class: 'reason', id: 'reason' }, why.map((line) => el('div', { text: line }))));
    out.push(el('h2', { text: 'Waves' }), waveTimeline(r));
    out.push(el('h2', { text: 'Hosts' }), hostGrid(hosts));
    const troubled = hosts.filter((h) => h.state !== 'healthy' && h.state !== 'pending' && h.state !== 'deploying');
    if (troubled.length) {
      out.push(el('h2', { text: 'Hosts not healthy (' + troubled.length + ')' }),
        table(['Host', 'Wave', 'State', 'Phase', 'Previous', 'Message'], troubled.slice(0, kMaxHostRows).map((h) =>
          el('tr', { 'data-host': h.id }, td(h.id), td(h.wave + 1, 'num'), td(state(h.state)), td(h.phase), td(h.previous), td(h.message)))));
    }
    out.push(analysisTable(data.analysis));
    const events = data.events.slice(-kMaxEvents).reverse();
    const total = data.events_total || data.events.length;
    out.push(el('h2', { text: 'Events (' + total + (total > events.length ? ', newest ' + events.length : '') + ')' }),
      el('table', { class: 'events' }, el('tbody', null, events.map((e) => el('tr', null, td(when(e.at)), td(e.kind),
        td(e.agent || ''), td(e.wave === null || e.wave === undefined ? '' : 'wave ' + (e.wave + 1)), td(e.message), td(e.actor || ''))))));
    return out;
  }

  const fleetFilter = { unhealthy: false, label: '', app: '' };

  function unhealthy(a) {
    if (a.state !== 'online') return true;
    return Object.values(a.health || {}).some((v) => v !== 'ok' && v !== 'healthy' && v !== 'passing');
  }

  function fleetView(data) {
    const apps = Object.keys(data.current).sort();
    for (const a of data.agents) for (const app of Object.keys(a.releases)) if (!apps.includes(app)) apps.push(app);
    const matches = (a) => {
      if (fleetFilter.unhealthy && !unhealthy(a)) return false;
      if (fleetFilter.app && own(a.releases, fleetFilter.app) === undefined) return false;
      if (fleetFilter.label) {
        const want = fleetFilter.label;
        const hit = Object.entries(a.labels).some(([k, v]) => (k + '=' + v).includes(want));
        if (!hit) return false;
      }
      return true;
    };
    const shown = data.agents.filter(matches);
    const rows = shown.slice(0, kMaxRows).map((a) => el('tr', { 'data-agent': a.id, 'data-state': a.state },
      td(a.id), td(state(a.state)),
      td(el('span', { class: 'labels' }, Object.entries(a.labels).map(([k, v]) => el('span', { text: k + '=' + v })))),
      td(apps.filter((app) => own(a.releases, app) !== undefined).map((app) => el('div', null, app + ' ' + a.releases[app] +
        (own(data.current, app) && data.current[app] !== a.releases[app] ? ' (current ' + data.current[app] + ')' : '')))),
      td(Object.entries(a.health).map(([k, v]) => el('div', { text: k + ': ' + v }))),
      td(when(a.last_seen)), td(own(data.self_reverts, a.id) || 0, 'num')));
    const appSelect = el('select', { id: 'filter-app', onchange: (e) => { fleetFilter.app = e.target.value; refresh(); } },
      el('option', { value: '', text: 'every app' }), apps.map((app) => el('option', { value: app, text: app, selected: app === fleetFilter.app })));
    const filters = el('div', { class: 'filters' },
      el('label', null, el('input', { type: 'checkbox', id: 'filter-unhealthy', checked: fleetFilter.unhealthy,
        onchange: (e) => { fleetFilter.unhealthy = e.target.checked; refresh(); } }), ' unhealthy only'),
      el('label', null, 'label ', el('input', { type: 'text', id: 'filter-label', value: fleetFilter.label, placeholder: 'key=value',
        onchange: (e) => { fleetFilter.label = e.target.value; refresh(); } })),
      el('label', null, 'app ', appSelect));
    return [el('h1', { text: 'Fleet' }),
      el('p', { class: 'muted', text: data.agents.length + ' agents, ' + shown.length + ' shown' + (shown.length > kMaxRows ? ' (first ' + kMaxRows + ')' : '') }),
      filters,
      table(['Agent', 'State', 'Labels', 'Releases', 'Health', 'Last heartbeat', 'Self-reverts'], rows)];
  }

  function appView(data) {
    const rows = data.history.map((h) => el('tr', { 'data-rollout': h.id, 'data-state': h.state },
      td(rolloutLink(h.id, h.version)), td(state(h.state)), td(h.submitted_by), td(when(h.submitted_at)),
      td(when(h.finished_at)), td(seconds(h.duration), 'num'), td(h.commit || '–'), td(h.message)));
    const released = data.history.filter((h) => h.state === 'succeeded').slice().reverse();
    return [el('h1', { text: data.app }),
      el('p', null, 'Current release: ', el('strong', { text: data.current || 'none' })),
      el('h2', { text: 'Releases over time' }),
      released.length ? chart(released.map((h) => ({ label: h.finished_at || '', value: h.duration })), 'Rollout duration of each release (s)', 'line', seconds) : el('p', { class: 'muted', text: 'No release yet.' }),
      el('h2', { text: 'Rollouts' }),
      table(['Version', 'State', 'Who', 'Submitted', 'Finished', 'Duration', 'Commit', 'Message'], rows)];
  }

  // A bar or line chart of points {label, value}; null values are gaps.
  function chart(points, title, kind, fmt) {
    const W = 420, H = 180, L = 46, B = 24, T = 22;
    const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
    const max = Math.max(1e-9, ...values);
    const s = svg('svg', { class: 'chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    s.appendChild(svg('title', {}, title));
    s.appendChild(svg('text', { x: 8, y: 14 }, title));
    s.appendChild(svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - 6, y2: H - B }));
    s.appendChild(svg('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
    s.appendChild(svg('text', { x: 4, y: T + 8 }, fmt(max)));
    s.appendChild(svg('text', { x: 4, y: H - B }, fmt(0)));
    const step = (W - L - 10) / Math.max(1, points.length);
    const y = (v) => H - B - ((H - B - T) * v) / max;
    let path = '', joined = false;
    points.forEach((p, i) => {
      const x = L + 4 + i * step;
      const has = p.value !== null && p.value !== undefined;
      if (has && kind === 'bar') {
        const bar = svg('rect', { class: 'barv', x: x, y: y(p.value), width: Math.max(1, step - 2), height: H - B - y(p.value) });
        bar.appendChild(svg('title', {}, p.label + ': ' + fmt(p.value)));
        s.appendChild(bar);
      } else if (has) {
        path += (joined ? 'L' : 'M') + (x + step / 2).toFixed(1) + ',' + y(p.value).toFixed(1);
        const dot = svg('circle', { class: 'dot', cx: x + step / 2, cy: y(p.value), r: 2.5 });
        dot.appendChild(svg('title', {}, p.label + ': ' + fmt(p.value)));
        s.appendChild(dot);
      }
      joined = has;
    });
    if (path) s.appendChild(svg('path', { class: 'line', d: path }));
    if (points.length) {
      s.appendChild(svg('text', { x: L, y: H - 6 }, (points[0].label || '').slice(0, 10)));
      s.appendChild(svg('text', { x: W - 70, y: H - 6 }, (points[points.length - 1].label || '').slice(0, 10)));
    }
    return s;
  }

  function deliveryView(data) {
    const f = data.metrics.fleet;
    const key = (name, value, band, detail) => el('div', { class: 'card key', 'data-key': name },
      el('div', { class: 'muted', text: name }), el('div', { class: 'value', text: value }),
      band ? el('span', { class: 'band b-' + cssName(band), text: band }) : el('span', { class: 'band', text: 'no bands' }),
      el('div', { class: 'muted', text: detail }));
    const days = data.days;
    const pts = (field) => days.map((d) => ({ label: d.day, value: d[field] === undefined ? null : d[field] }));
    return [el('h1', { text: 'Delivery (last ' + data.metrics.window_days + ' days)' }),
      el('div', { class: 'keys' },
        key('Deployment frequency', f.deployment_frequency.per_day.toFixed(2) + '/day', f.deployment_frequency.band,
          f.deployment_frequency.deployments + ' deployments'),
        key('Lead time for changes', seconds(f.lead_time.median_seconds), f.lead_time.band, 'median of ' + f.lead_time.rollouts + ' rollouts'),
        key('Change failure rate', percent(f.change_failure_rate.rate), f.change_failure_rate.band,
          f.change_failure_rate.failed + ' failed of ' + f.change_failure_rate.finished),
        key('Failed deployment recovery time', seconds(f.recovery_time.median_seconds), f.recovery_time.band,
          f.recovery_time.recoveries + ' recovered, ' + f.recovery_time.unrecovered + ' not yet'),
        key('Deployment rework rate', percent(f.rework_rate.rate), null,
          f.rework_rate.unplanned + ' unplanned of ' + f.rework_rate.deployments)),
      el('h2', { text: 'Per day' }),
      el('div', { class: 'charts' },
        chart(pts('deployments'), 'Deployments per day', 'bar', (v) => String(Math.round(v))),
        chart(pts('lead_time_seconds'), 'Lead time (median)', 'line', seconds),
        chart(pts('change_failure_rate'), 'Change failure rate', 'line', percent),
        chart(pts('recovery_seconds'), 'Recovery time (median)', 'line', seconds),
        chart(pts('rework_rate'), 'Rework rate', 'line', percent))];
  }

  // ------------------------------------------------------------ routing and live updates

  function route() {
    const parts = location.hash.replace(/^#\/?/, '').split('/');
    const raw = parts.slice(1).join('/');
    // A malformed escape (#/rollout/%E0%A4) is taken as written: decodeURIComponent would throw and stop the page.
    let arg = raw;
    try { arg = decodeURIComponent(raw); } catch (e) { arg = raw; }
    switch (parts[0]) {
      case 'rollout': return { name: 'rollout', path: '/api/rollouts/' + encodeURIComponent(arg), view: rolloutView, deps: ['rollouts', 'set'] };
      case 'fleet': return { name: 'fleet', path: '/api/fleet', view: fleetView, deps: ['agents', 'set'] };
      case 'app': return { name: 'rollouts', path: '/api/apps/' + encodeURIComponent(arg), view: appView, deps: ['rollouts', 'set'] };
      case 'delivery': return { name: 'delivery', path: '/api/delivery', view: deliveryView, deps: ['set'] };
      default: return { name: 'rollouts', path: '/api/rollouts', view: rolloutsView, deps: ['rollouts', 'set'] };
    }
  }

  let loading = false, again = false, frame = 0, pending = null, rendered = '';

  // One fetch at a time; changes that arrive meanwhile make one more, and the
  // page is redrawn once per animation frame at most, whatever the rate of changes.
  async function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    const r = route();
    try {
      const data = await getJson(r.path);
      pending = { r, data };
    } catch (e) {
      pending = { r, error: e };
    }
    loading = false;
    if (!frame) frame = requestAnimationFrame(draw);
    if (again) { again = false; refresh(); }
  }

  function draw() {
    frame = 0;
    if (!pending) return;
    const { r, data, error } = pending;
    pending = null;
    if (r.path !== route().path) return;
    const started = performance.now();
    const focus = document.activeElement && document.activeElement.id;
    const nodes = error ? [el('p', { class: 'error', text: error.message })] : r.view(data);
    const scroll = window.scrollY;
    main.replaceChildren(...[nodes].flat(Infinity).filter(Boolean));
    if (rendered === r.path) window.scrollTo(0, scroll);
    rendered = r.path;
    main.setAttribute('data-view', r.name);
    main.setAttribute('data-path', r.path);
    // How long drawing took and how often the view was drawn: the browser test reads them.
    main.setAttribute('data-draw-ms', (performance.now() - started).toFixed(1));
    main.setAttribute('data-draws', String(Number(main.getAttribute('data-draws') || 0) + 1));
    main.setAttribute('data-version', data ? String(data.version || 0) : '');
    if (focus) { const f = document.getElementById(focus); if (f) f.focus(); }
    for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === r.name);
  }

  // The stream's versions last seen ({version, rollouts, agents, set}); null after a
  // (re)connect, when everything is fetched again.
  let seen = null;

  function connect() {
    const source = new EventSource('/api/stream');
    source.addEventListener('open', () => { seen = null; live.textContent = 'live'; live.className = 'live on'; });
    // A view is fetched again only when a change touches what it shows: the delivery
    // keys do not move with every bake countdown.
    source.addEventListener('change', (e) => {
      let now = null;
      try { now = JSON.parse(e.data); } catch (err) { now = null; }
      const touched = !seen || !now || route().deps.some((k) => seen[k] !== now[k]);
      seen = now;
      if (touched) refresh();
    });
    // EventSource reconnects by itself after a lost connection (the stream asks for a retry
    // after 1 s); the page shows it, and reloads its view when the stream is back. An answer
    // other than the stream (503 when too many are open, a proxy's 502 while the coordinator
    // restarts) closes it for good instead: the page opens a new one.
    source.addEventListener('error', () => {
      live.textContent = 'reconnecting';
      live.className = 'live off';
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, kReopenMs);
    });
  }

  window.addEventListener('hashchange', () => { rendered = ''; refresh(); });
  refresh();
  connect();
})();
