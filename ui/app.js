// Switchyard's topology page. Read-only: it only ever sends GET requests.
//
// It reads the graph from the daemon (GET /yard/v1/topology), lays it out with cytoscape's
// built-in cose layout, follows the daemon's event stream (GET /events) and re-reads the
// graph when something changed (and every REFRESH_MS, for other hosts' sandboxes and
// processes that ended). Everything a user named (networks, sandboxes, labels, aliases)
// reaches the document only as text (textContent), never as markup.
'use strict';

(function () {
  const REFRESH_MS = 10000;
  const RECONNECT_MS = 2000;
  const base = new URL('.', document.location.href);
  const api = (path) => new URL(path, base).toString();
  const TOPOLOGY = api('../v1/topology');
  const EVENTS = api('../../events');

  const page = {
    cy: null,
    topology: null,
    selected: null,
    renders: 0,
    eventsSeen: 0,
    cspViolations: [],
    refresh: () => refresh(),
  };
  window.yardTopology = page;
  document.addEventListener('securitypolicyviolation', (e) => {
    page.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
  });

  // ------------------------------------------------------------ DOM helpers (text only)
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, String(v));
      else if (k === 'onclick') e.addEventListener('click', v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const text = (v) => (v === undefined || v === null || v === '' ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  function table(headers, rows) {
    return el('table', {}, el('tr', {}, headers.map((h) => el('th', {}, h))), rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, text(c))))));
  }
  function keyValues(obj) {
    const entries = Object.entries(obj || {});
    if (!entries.length) return el('p', { class: 'muted' }, 'none');
    return table(['key', 'value'], entries.map(([k, v]) => [k, v]));
  }
  function setStatus(state, words) {
    const s = document.getElementById('status');
    s.className = state;
    s.textContent = words;
  }

  // ------------------------------------------------------------ the graph
  const STYLE = [
    { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-valign': 'bottom', 'text-margin-y': 3, 'text-wrap': 'ellipsis', 'text-max-width': 140, width: 26, height: 26, 'background-color': '#8c96a8', color: '#1d2430' } },
    { selector: 'node[kind = "host"], node[kind = "peer"]', style: { shape: 'barrel', width: 40, height: 40, 'background-color': '#5b6b86', 'font-weight': 'bold' } },
    { selector: 'node[kind = "peer"]', style: { 'background-color': '#8a6bb8', 'border-width': 2, 'border-style': 'dashed', 'border-color': '#5a3f86' } },
    { selector: 'node[kind = "network"]', style: { shape: 'round-rectangle', width: 46, height: 24, 'background-color': '#2f6fd6' } },
    { selector: 'node[kind = "bridge"]', style: { shape: 'diamond', 'background-color': '#e08a1e' } },
    { selector: 'node[kind = "parent"]', style: { shape: 'hexagon', 'background-color': '#b5532c' } },
    { selector: 'node[kind = "vxlan"]', style: { shape: 'triangle', 'background-color': '#8a6bb8' } },
    { selector: 'node[kind = "sandbox"]', style: { shape: 'ellipse', 'background-color': '#2e9e5b' } },
    { selector: 'node[kind = "sandbox"][status != "running"]', style: { 'background-color': '#a9b3a9' } },
    { selector: 'node[kind = "remote-sandbox"]', style: { shape: 'ellipse', 'background-color': '#b79be0', 'border-width': 2, 'border-style': 'dashed', 'border-color': '#6c4aa3' } },
    { selector: 'node[kind = "port"]', style: { shape: 'tag', width: 22, height: 18, 'background-color': '#e6c229' } },
    { selector: 'edge', style: { width: 1.6, 'line-color': '#9aa5b8', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 9, color: '#4a5466', 'text-rotation': 'autorotate', 'text-background-color': '#ffffff', 'text-background-opacity': 0.8, 'text-background-padding': 1 } },
    { selector: 'edge[kind = "parent"], edge[kind = "carrier"]', style: { 'line-color': '#d29a55' } },
    { selector: 'edge[kind = "vtep"]', style: { 'line-style': 'dashed', 'line-color': '#8a6bb8' } },
    { selector: 'edge[kind = "host"]', style: { width: 1, 'line-color': '#c9ced8', 'line-style': 'dotted' } },
    { selector: 'edge[kind = "publish"]', style: { 'line-color': '#cfae20', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#cfae20' } },
    { selector: ':selected', style: { 'border-width': 3, 'border-color': '#d6263a' } },
  ];

  function elementsOf(topo) {
    // Cytoscape data: the fields it styles by, plus the whole record for the panel.
    const node = (n) => ({ group: 'nodes', data: { id: n.data.id, kind: n.data.kind, label: n.data.label, status: n.data.info.status || '', info: n.data.info } });
    const edge = (e) => ({ group: 'edges', data: { id: e.data.id, kind: e.data.kind, label: e.data.label, source: e.data.source, target: e.data.target, info: e.data.info } });
    return [...topo.nodes.map(node), ...topo.edges.map(edge)];
  }

  function layout(randomize) {
    // Edges between hosts (a VXLAN device to a peer, a remote sandbox to a global network) are
    // longer, so each host's part of the graph keeps to itself.
    const across = (e) => e.data('kind') === 'vtep' || e.source().data('kind') === 'remote-sandbox';
    page.cy.layout({ name: 'cose', animate: false, randomize, nodeDimensionsIncludeLabels: true, padding: 24, componentSpacing: 80, nodeRepulsion: () => 12000, idealEdgeLength: (e) => (across(e) ? 140 : 70) }).run();
  }

  function render(topo) {
    const els = elementsOf(topo);
    if (!page.cy) {
      page.cy = cytoscape({ container: document.getElementById('graph'), elements: els, style: STYLE, wheelSensitivity: 0.3, boxSelectionEnabled: false });
      page.cy.on('tap', 'node', (evt) => select(evt.target.id()));
      layout(true);
    } else {
      const cy = page.cy;
      const want = new Map(els.map((e) => [e.data.id, e]));
      let changed = false;
      cy.batch(() => {
        cy.elements().forEach((e) => {
          const w = want.get(e.id());
          if (!w) {
            e.remove();
            changed = true;
          }
        });
        for (const e of els) {
          const have = cy.getElementById(e.data.id);
          if (have.nonempty()) {
            have.data(e.data);
            continue;
          }
          changed = true;
          const added = cy.add(e);
          // Start a new node beside what it connects to, so the layout keeps its shape.
          if (added.isNode()) {
            const near = els.find((x) => x.group === 'edges' && (x.data.source === e.data.id || x.data.target === e.data.id));
            const other = near && cy.getElementById(near.data.source === e.data.id ? near.data.target : near.data.source);
            if (other && other.nonempty()) added.position({ x: other.position('x') + 30, y: other.position('y') + 30 });
          }
        }
      });
      if (changed) layout(false);
    }
    page.renders++;
    document.getElementById('instance').textContent = `host ${topo.instance}`;
    const c = topo.counts;
    document.getElementById('counts').textContent = `${c.network} networks, ${c.sandbox} sandboxes, ${c.port} published ports${c.peer ? `, ${c.peer} peers, ${c['remote-sandbox']} remote sandboxes` : ''}`;
    renderList(topo);
    if (page.selected) renderPanel(page.selected, false);
  }

  function renderList(topo) {
    const list = document.getElementById('list');
    const items = topo.nodes
      .slice()
      .sort((a, b) => a.data.kind.localeCompare(b.data.kind) || a.data.label.localeCompare(b.data.label))
      .map((n) => el('li', { 'data-id': n.data.id, 'data-kind': n.data.kind }, el('span', { class: 'kind' }, n.data.kind), el('button', { type: 'button', onclick: () => select(n.data.id) }, n.data.label)));
    list.replaceChildren(...items);
  }

  // ------------------------------------------------------------ the side panel
  function nodeOf(id) {
    return page.topology && page.topology.nodes.find((n) => n.data.id === id);
  }

  function select(id) {
    page.selected = id;
    if (page.cy) {
      page.cy.elements().unselect();
      page.cy.getElementById(id).select();
    }
    renderPanel(id, true);
  }

  async function getJson(url) {
    const r = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const body = await r.json().catch(() => ({ message: `HTTP ${r.status}` }));
    if (!r.ok) throw new Error(body.message || `HTTP ${r.status}`);
    return body;
  }

  function section(title, id, content) {
    return el('section', { 'data-section': id }, el('h3', {}, title), content);
  }

  function renderPanel(id, fetchLive) {
    const panel = document.getElementById('panel');
    const n = nodeOf(id);
    if (!n) {
      panel.replaceChildren(el('p', { class: 'muted' }, 'This object is gone.'));
      return;
    }
    const info = n.data.info;
    if (!fetchLive && panel.getAttribute('data-node') === id) {
      // Only the record's own sections are re-drawn on a refresh; the kernel's answers stay.
      const own = panel.querySelector('[data-section="record"]');
      if (own) own.replaceWith(recordSection(n));
      return;
    }
    panel.setAttribute('data-node', id);
    panel.setAttribute('data-kind', n.data.kind);
    const parts = [el('h2', {}, `${n.data.kind} ${n.data.label}`), recordSection(n)];
    if (n.data.kind === 'sandbox') {
      const routes = el('div', {}, el('p', { class: 'muted' }, 'reading...'));
      const ports = el('div', {}, el('p', { class: 'muted' }, 'reading...'));
      const dns = el('div', {}, el('p', { class: 'muted' }, 'reading...'));
      parts.push(section('Routes (from the kernel)', 'routes', routes), section('Published ports: port explain', 'ports', ports), section(`DNS: dns explain ${info.name} from itself`, 'dns', dns));
      if (fetchLive) fillLive(info, routes, ports, dns);
    }
    panel.replaceChildren(...parts);
  }

  function recordSection(n) {
    const info = n.data.info;
    const out = [];
    if (n.data.kind === 'sandbox') {
      out.push(table(['field', 'value'], [['id', info.id.slice(0, 12)], ['status', info.status], ['hostname', info.hostname], ['namespace', info.netns], ...(info.runtime ? [['runtime', info.runtime]] : [])]));
      out.push(el('h3', {}, 'Addresses'), table(['network', 'interface', 'IPv4', 'IPv6', 'MAC'], info.addresses.map((a) => [a.network, a.ifname, a.ipv4, a.ipv6, a.mac])));
      out.push(el('h3', {}, 'DNS names'), info.dnsNames.length ? table(['network', 'names'], info.dnsNames.map((d) => [d.network, d.names.join(', ')])) : el('p', { class: 'muted' }, 'none (no network with the embedded DNS)'));
      out.push(el('h3', {}, 'Labels'), keyValues(info.labels));
    } else if (n.data.kind === 'network') {
      out.push(table(['field', 'value'], [['id', info.id.slice(0, 12)], ['driver', info.driver], ['scope', info.scope], ['internal', info.internal], ['link', info.link], ...(info.vni !== undefined ? [['VNI', info.vni]] : []), ...(info.mode !== undefined ? [['mode', info.mode]] : [])]));
      out.push(el('h3', {}, 'Subnets'), table(['subnet', 'gateway', 'range'], info.subnets.map((s) => [s.subnet, s.gateway, s.ipRange])));
      out.push(el('h3', {}, 'Options'), keyValues(info.options), el('h3', {}, 'Labels'), keyValues(info.labels));
    } else if (n.data.kind === 'remote-sandbox') {
      out.push(table(['field', 'value'], [['id', String(info.id).slice(0, 12)], ['host', info.node], ['VTEP', info.vtep]]));
      out.push(el('h3', {}, 'Addresses'), table(['network', 'IPv4', 'IPv6', 'MAC'], info.addresses.map((a) => [a.network, a.ipv4, a.ipv6, a.mac])));
    } else {
      out.push(keyValues(info));
    }
    return el('div', { 'data-section': 'record' }, out);
  }

  async function fillLive(info, routes, ports, dns) {
    const ref = encodeURIComponent(info.id);
    const show = async (box, fn) => {
      try {
        box.replaceChildren(...[].concat(await fn()));
      } catch (e) {
        box.replaceChildren(el('p', { class: 'muted' }, `unavailable: ${e.message}`));
      }
    };
    await Promise.all([
      show(routes, async () => {
        const r = await getJson(api(`../v1/sandboxes/${ref}/routes`));
        if (!r.routes.length) return el('p', { class: 'muted' }, r.note || 'no routes');
        return table(['destination', 'via', 'device', 'source'], r.routes.map((x) => [x.dst, x.gateway, x.dev, x.prefsrc]));
      }),
      show(ports, async () => {
        const list = await getJson(api(`../v1/sandboxes/${ref}/ports/explain`));
        if (!list.length) return el('p', { class: 'muted' }, 'no published ports');
        return list.map((p) =>
          el('div', { class: 'port' }, el('pre', {}, p.path), table(['from', 'reaches', 'why'], p.reach.map((x) => [x.who, x.allowed ? 'yes' : 'no', x.why])), p.rules.length ? el('pre', {}, p.rules.join('\n')) : null),
        );
      }),
      show(dns, async () => {
        const e = await getJson(api(`../v1/dns/explain?${new URLSearchParams({ name: info.name, from: info.id })}`));
        return [el('pre', {}, `${e.question.name} ${e.question.type}: ${e.rcode}${e.source ? ` (${e.source})` : ''}`), e.records.length ? el('pre', {}, e.records.join('\n')) : null, el('p', {}, e.reason)];
      }),
    ]);
  }

  // ------------------------------------------------------------ data and liveness
  let inFlight = null;
  let again = false;
  async function refresh() {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = (async () => {
      try {
        const topo = await getJson(TOPOLOGY);
        const same = page.topology && JSON.stringify(page.topology) === JSON.stringify(topo);
        page.topology = topo;
        if (!same) render(topo);
      } catch (e) {
        setStatus('down', `cannot read the topology: ${e.message}`);
      }
    })();
    await inFlight;
    inFlight = null;
    if (again) {
      again = false;
      return refresh();
    }
  }

  let soon = null;
  function refreshSoon() {
    clearTimeout(soon);
    soon = setTimeout(refresh, 100);
  }

  async function follow() {
    // The daemon's Docker-shaped event stream: one JSON object per line, for each change.
    for (;;) {
      try {
        const r = await fetch(EVENTS, { cache: 'no-store' });
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        setStatus('live', 'live');
        await refresh();
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (line) {
              page.eventsSeen++;
              refreshSoon();
            }
          }
        }
        setStatus('down', 'event stream ended; reconnecting');
      } catch (e) {
        setStatus('down', `event stream: ${e.message}; reconnecting`);
      }
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  }

  refresh().then(() => follow());
  setInterval(refresh, REFRESH_MS);
})();
