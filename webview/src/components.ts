import { provideVSCodeDesignSystem, vsCodeBadge, vsCodeButton, vsCodeTag } from '@vscode/webview-ui-toolkit';

/**
 * Our own small components. The toolkit is no longer maintained upstream,
 * so only this file knows it: swapping it means rewriting these functions.
 */
provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeBadge(), vsCodeTag());

type Child = Node | string;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

export function button(
  label: string,
  ariaLabel: string,
  onClick: () => void,
  appearance: 'primary' | 'secondary' | 'icon' = 'secondary',
): HTMLElement {
  const b = document.createElement('vscode-button');
  b.setAttribute('appearance', appearance);
  b.setAttribute('aria-label', ariaLabel);
  b.textContent = label;
  b.addEventListener('click', (e) => {
    e.stopPropagation();
    onClick();
  });
  return b;
}

export function badge(text: string): HTMLElement {
  const b = document.createElement('vscode-badge');
  b.textContent = text;
  return b;
}

export function tag(text: string): HTMLElement {
  const t = document.createElement('vscode-tag');
  t.textContent = text;
  return t;
}

export function section(title: string, count: number | undefined, ...children: Child[]): HTMLElement {
  const heading = el('h2', {}, title);
  if (count !== undefined) heading.append(' ', badge(String(count)));
  return el('section', { 'aria-label': title }, heading, ...children);
}

/** A small trend line: people read a trend faster than a number. */
export function sparkline(label: string, values: readonly number[], unit: string): HTMLElement {
  const width = 120;
  const height = 28;
  const max = Math.max(1e-9, ...values);
  const points = values
    .map((v, i) => `${values.length <= 1 ? width : (i / (values.length - 1)) * width},${height - (v / max) * (height - 2) - 1}`)
    .join(' ');
  const last = values.at(-1) ?? 0;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('aria-hidden', 'true');
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points);
  line.setAttribute('class', 'spark');
  svg.append(line);
  const value = `${Number.isInteger(last) ? last : last.toFixed(1)}${unit}`;
  return el(
    'figure',
    { class: 'metric', 'aria-label': `${label}: ${value} now` },
    el('figcaption', {}, label),
    svg,
    el('span', { class: 'value' }, value),
  );
}
