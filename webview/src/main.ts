import type {
  HostMessage,
  PanelClaim,
  PanelSession,
  PanelState,
  PanelThread,
  WebviewMessage,
} from '../../src/extension/views/healthProtocol';
import { button, el, section, sparkline, tag } from './components';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): PanelState | undefined;
  setState(state: PanelState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const app = document.getElementById('app')!;

function send(message: WebviewMessage): void {
  vscode.postMessage(message);
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m}m` : `${Math.round(m / 60)}h`;
}

function sessionsTable(sessions: readonly PanelSession[]): HTMLElement {
  if (sessions.length === 0) {
    return el(
      'div',
      { class: 'empty' },
      el(
        'p',
        {},
        'No agent is connected yet. Copilot agent mode finds this coordinator by itself. Set up Claude Code, Gemini CLI, Cursor or Cline in one step: its MCP entry, and the edit guard that stops it from writing a file another agent holds.',
      ),
      button('Set up an agent…', 'Set up an agent for this project', () => send({ type: 'runCommand', command: 'setupAgent' }), 'primary'),
      button('Copy client config', 'Copy MCP client configuration', () => send({ type: 'runCommand', command: 'copyClientConfig' })),
    );
  }
  const now = Date.now();
  const head = el(
    'tr',
    {},
    ...['Client', 'Transport', 'State', 'Age', 'Last activity', 'Requests', 'Pending', 'Tags', 'Where', ''].map((h) =>
      el('th', { scope: 'col' }, h),
    ),
  );
  const rows = sessions.map((s) => {
    const row = el(
      'tr',
      { tabindex: '0', 'data-session': s.id, 'aria-label': `${s.clientName} over ${s.transport}, ${s.state}; press Enter for its history` },
      el(
        'td',
        { title: `${s.clientName} ${s.clientVersion}${s.agent ? `\n${s.agent}` : ''}\n${s.id}\n${s.root}` },
        `${s.clientName}${s.clientVersion ? ` ${s.clientVersion}` : ''}`,
        s.agent ? el('div', { class: 'muted' }, s.agent) : '',
      ),
      el('td', {}, s.transport),
      el('td', { class: `state-${s.state}` }, s.state),
      el('td', { 'data-since': String(s.createdAt) }, ago(now - s.createdAt)),
      el('td', { 'data-since': String(s.lastActivityAt), 'data-suffix': ' ago' }, `${ago(now - s.lastActivityAt)} ago`),
      el('td', { class: 'num' }, String(s.requestCount)),
      el('td', { class: 'num' }, String(s.pendingCount)),
      el('td', {}, ...s.tags.map(tag)),
      el('td', {}, s.local ? 'this window' : s.participant),
      el(
        'td',
        {},
        button('End', `End session of ${s.clientName}`, () => send({ type: 'endSession', sessionId: s.id })),
      ),
    );
    row.addEventListener('click', () => send({ type: 'openHistory', sessionId: s.id }));
    row.addEventListener('keydown', (e) => {
      // Keys on the row's own buttons are theirs (Enter on End must not also open the history).
      if (e.target !== row) return;
      if (e.key === 'Enter') send({ type: 'openHistory', sessionId: s.id });
      if (e.key === 'ArrowDown') (row.nextElementSibling as HTMLElement | null)?.focus();
      if (e.key === 'ArrowUp') (row.previousElementSibling as HTMLElement | null)?.focus();
    });
    return row;
  });
  return el('table', { class: 'sessions', 'aria-label': 'Sessions' }, el('thead', {}, head), el('tbody', {}, ...rows));
}

function claimItems(claims: readonly PanelClaim[]): HTMLElement {
  return el(
    'ul',
    { class: 'claims' },
    ...claims.map((c) =>
      el(
        'li',
        {},
        el('code', {}, c.projectName ? `${c.projectName}: ${c.resource}` : c.resource),
        ` held by ${c.holderAgent ?? c.holderClient}${c.otherWorktree && c.worktree ? ` in worktree ${c.worktree}` : ''} until ${new Date(c.expiresAt).toLocaleTimeString()} `,
        button('Release', `Release claim on ${c.resource}`, () =>
          send({
            type: 'releaseClaim',
            resource: c.resource,
            fencingToken: c.fencingToken,
            ...(c.checkout ? { checkout: c.checkout } : {}),
            ...(c.project ? { project: c.project } : {}),
          }),
        ),
      ),
    ),
  );
}

/** Claims an agent asked for, apart from those the edit guard took before its edits. */
function claimsList(claims: readonly PanelClaim[]): HTMLElement {
  if (claims.length === 0) return el('p', { class: 'muted' }, 'No claims: no agent has reserved a file, folder or task.');
  const explicit = claims.filter((c) => !c.automatic);
  const automatic = claims.filter((c) => c.automatic);
  return el(
    'div',
    {},
    explicit.length ? claimItems(explicit) : '',
    automatic.length ? el('p', { class: 'muted' }, `Taken by the edit guard before an edit (${automatic.length}):`) : '',
    automatic.length ? claimItems(automatic) : '',
  );
}

function blockedEdits(guard: PanelState['guard']): HTMLElement {
  if (guard.blocked === 0) return el('p', { class: 'muted' }, 'No edit blocked: no agent tried to write a file another agent holds.');
  return el(
    'ul',
    { class: 'blocked' },
    ...guard.recent.map((b) =>
      el(
        'li',
        {},
        `${new Date(b.at).toLocaleTimeString()} `,
        el('strong', {}, b.agent),
        ' on ',
        el('code', {}, b.resource),
        `, held by ${b.holder}`,
      ),
    ),
  );
}

/** Threads per inbox. Every field is set as text (el() appends strings as text nodes): an agent's HTML shows as written. */
function messagesList(threads: readonly PanelThread[]): HTMLElement {
  const agents = threads.filter((t) => t.inbox !== 'people');
  return el(
    'div',
    { class: 'messages' },
    agents.length
      ? el(
          'p',
          {},
          button('Message all agents…', 'Send a message to every live agent', () => send({ type: 'sendMessage', to: 'all' })),
        )
      : el('p', { class: 'muted' }, 'No live agent to write to.'),
    ...threads
      .filter((t) => t.inbox !== 'people' || t.recent.length > 0)
      .map((t) =>
        el(
          'div',
          { class: 'thread', 'data-inbox': t.inbox },
          el('h3', {}, t.who, t.unread ? ` · ${t.unread} unread` : ''),
          t.inbox === 'people' ? '' : button('Message…', `Send a message to ${t.who}`, () => send({ type: 'sendMessage', to: t.inbox })),
          t.recent.length
            ? el(
                'ul',
                {},
                ...t.recent.map((m) =>
                  el(
                    'li',
                    { class: `message message-${m.state}` },
                    el(
                      'span',
                      { class: 'muted' },
                      `${new Date(m.at).toLocaleTimeString()} ${m.from}${m.subject ? ` · ${m.subject}` : ''} (${m.state}): `,
                    ),
                    el('span', { class: 'body' }, m.body),
                  ),
                ),
              )
            : el('p', { class: 'muted' }, 'No messages.'),
        ),
      ),
  );
}

/** The panel's sections, in the order render() first draws them: each is redrawn only when what it shows changed. */
type Slot = 'status' | 'problems' | 'sessions' | 'trends' | 'participants' | 'claims' | 'blocked' | 'messages' | 'radar' | 'store';
const slots = new Map<Slot, { key: string; node: HTMLElement }>();
let current: PanelState | undefined;

/** Redraws one section when `key` (what it shows, as JSON) differs from the last time; returns whether it did. */
function draw(slot: Slot, key: unknown, build: () => HTMLElement | string): boolean {
  let entry = slots.get(slot);
  if (!entry) {
    entry = { key: '', node: el('div', { class: 'slot', 'data-slot': slot }) };
    app.append(entry.node);
    slots.set(slot, entry);
  }
  const text = JSON.stringify(key);
  if (entry.key === text) return false;
  entry.key = text;
  entry.node.replaceChildren(build());
  return true;
}

function trends(series: PanelState['series']): HTMLElement {
  return el(
    'div',
    { class: 'metrics', 'data-points': String(series.length) },
    sparkline(
      'Sessions',
      series.map((p) => p.sessions),
      '',
    ),
    sparkline(
      'Calls/s',
      series.map((p) => p.callsPerSecond),
      '',
    ),
    sparkline(
      'Lock wait p99',
      series.map((p) => p.lockWaitP99),
      ' ms',
    ),
    sparkline(
      'Propagation p99',
      series.map((p) => p.propagationP99),
      ' ms',
    ),
  );
}

function render(state: PanelState): void {
  current = state;
  if (app.querySelector(':scope > p.muted')) app.replaceChildren();
  // A redrawn sessions table keeps the keyboard where the person left it.
  const focused = (document.activeElement as HTMLElement | null)?.closest('tr[data-session]')?.getAttribute('data-session');
  draw('status', [state.status, state.statusText, state.url], () =>
    el(
      'header',
      { class: `status status-${state.status}`, role: 'status' },
      el('strong', {}, state.statusText),
      state.url ? el('span', { class: 'muted' }, ` · ${state.url}`) : '',
    ),
  );
  draw('problems', state.problems, () =>
    state.problems.length
      ? el(
          'section',
          { class: 'problems', 'aria-label': 'Problems' },
          ...state.problems.map((p) =>
            el(
              'div',
              { class: `problem problem-${p.severity}`, role: p.severity === 'error' ? 'alert' : 'status' },
              el('strong', {}, p.message),
              p.action ? el('p', {}, p.action) : '',
            ),
          ),
        )
      : '',
  );
  const sessionsRedrawn = draw('sessions', state.sessions, () => section('Sessions', state.sessions.length, sessionsTable(state.sessions)));
  draw('trends', state.series, () => section('Trends', undefined, trends(state.series)));
  const live = state.participants.map((p) => ({ ...p, heartbeatAgeMs: undefined, live: p.heartbeatAgeMs < 3000 }));
  draw('participants', live, () =>
    section(
      'Windows and processes',
      live.length,
      el(
        'ul',
        { class: 'participants' },
        ...live.map((p) =>
          el(
            'li',
            {},
            el('span', { class: p.live ? 'live' : 'stale', 'aria-label': p.live ? 'live' : 'not responding' }, '●'),
            ` ${p.self ? 'This window' : p.label}${p.worktree ? ` · ${p.worktree}` : ''} · pid ${p.pid} · ${p.sessionCount} session${p.sessionCount === 1 ? '' : 's'}`,
          ),
        ),
      ),
    ),
  );
  draw('claims', state.claims, () => section('Claims', state.claims.length, claimsList(state.claims)));
  draw('blocked', state.guard, () => section('Blocked edits', state.guard.blocked, blockedEdits(state.guard)));
  const messages = state.messages ?? [];
  draw('messages', messages, () =>
    section(
      'Messages',
      messages.reduce((n, t) => n + t.unread, 0),
      messagesList(messages),
    ),
  );
  const radar = state.acrossWorktrees ?? [];
  draw('radar', radar, () =>
    radar.length
      ? section(
          'Across worktrees',
          radar.length,
          el(
            'ul',
            { class: 'radar' },
            ...radar.map((o) =>
              el(
                'li',
                {},
                el('code', {}, o.resource),
                o.here ? ' (this worktree too): ' : ': ',
                o.worktrees.map((w) => `${w.worktree} by ${w.holder}`).join('; '),
              ),
            ),
          ),
        )
      : '',
  );
  const store = state.store;
  draw('store', store, () =>
    section(
      'Shared context',
      undefined,
      el(
        'p',
        {},
        `${store.kind === 'file' ? 'Shared files' : store.kind}${store.degraded ? ' (local only)' : ''} · ${store.namespaces.length} namespace(s) · ${store.namespaces.reduce((n, ns) => n + ns.keys, 0)} key(s) · event log ${(store.eventLogBytes / 1024).toFixed(1)} KiB · ${store.corruptionRecoveries} recoveries`,
      ),
      el('p', { class: 'muted' }, store.location),
    ),
  );
  if (sessionsRedrawn && focused) app.querySelector<HTMLElement>(`tr[data-session="${CSS.escape(focused)}"]`)?.focus();
}

/** One more trend point: only the trend lines are redrawn. */
function addPoint(point: PanelState['series'][number], keep: number): void {
  if (!current) return;
  const series = [...current.series, point].slice(-keep);
  current = { ...current, series };
  vscode.setState(current);
  draw('trends', series, () => section('Trends', undefined, trends(series)));
}

// Ages move with the clock, not with the state: only their text is rewritten, once a second.
setInterval(() => {
  const now = Date.now();
  for (const cell of app.querySelectorAll<HTMLElement>('[data-since]'))
    cell.textContent = `${ago(now - Number(cell.dataset.since))}${cell.dataset.suffix ?? ''}`;
}, 1000);

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  if (event.data?.type === 'point') {
    addPoint(event.data.point, event.data.keep);
    return;
  }
  if (event.data?.type !== 'state') return;
  vscode.setState(event.data.state);
  render(event.data.state);
});

const saved = vscode.getState();
if (saved) render(saved);
send({ type: 'ready' });
