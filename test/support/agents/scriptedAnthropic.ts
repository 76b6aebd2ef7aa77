import type * as http from 'node:http';
import { jsonOr400, startLoopback } from './loopbackServer.js';

/**
 * A scripted model: a loopback server speaking the Anthropic Messages API
 * (streaming and not), so a real Claude Code runs its real MCP client and
 * hooks with no model and no network. Each request of the main conversation
 * (one that offers tools) gets the next step of the script; Claude Code's
 * side requests (titles, checks, token counts) get a short answer and do not
 * consume a step.
 */
export type Step = { toolUse: { name: string; input: unknown } } | { text: string };

export interface MessagesRequest {
  model?: string;
  stream?: boolean;
  tools?: Array<{ name: string }>;
  messages: Array<{ role: string; content: string | Array<Record<string, unknown>> }>;
}

export interface ScriptedModel {
  url: string;
  /** Every main-conversation request, in order. */
  readonly requests: MessagesRequest[];
  /** The tool_result blocks the client sent back, in order: what a tool or a hook returned to the model. */
  toolResults(): Array<{ toolUseId: string; isError: boolean; text: string }>;
  close(): Promise<void>;
}

/** A list of steps, or a function of the request (it may wait, e.g. for another agent to reach a point). */
type Script = Array<Step | (() => Promise<Step>)> | ((request: MessagesRequest, index: number) => Step | Promise<Step>);

function sse(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((c) => (typeof c === 'object' && c && 'text' in c ? String((c as { text: unknown }).text) : '')).join('');
  return '';
}

export async function startScriptedAnthropic(script: Script): Promise<ScriptedModel> {
  const requests: MessagesRequest[] = [];
  let ids = 0;
  const stepFor = async (request: MessagesRequest): Promise<Step> => {
    const index = requests.length;
    requests.push(request);
    if (typeof script === 'function') return script(request, index);
    const step = script[index] ?? { text: 'done' };
    return typeof step === 'function' ? step() : step;
  };
  const server = await startLoopback((req, res, url, body) => {
    if (req.method === 'POST' && url.pathname === '/v1/messages/count_tokens') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ input_tokens: 100 }));
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/messages') {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `no ${req.method} ${url.pathname} here` } }));
      return;
    }
    const request = jsonOr400<MessagesRequest>(body, res);
    if (!request) return;
    const main = Array.isArray(request.tools) && request.tools.length > 0;
    const id = ++ids;
    void (main ? stepFor(request) : Promise.resolve<Step>({ text: 'ok' })).then((step) =>
      answer(res, request, step, `msg_${id}`, `toolu_${String(id).padStart(6, '0')}`),
    );
  });
  return {
    url: server.url,
    requests,
    toolResults() {
      const out: Array<{ toolUseId: string; isError: boolean; text: string }> = [];
      const seen = new Set<string>();
      for (const r of requests) {
        for (const m of r.messages) {
          if (m.role !== 'user' || !Array.isArray(m.content)) continue;
          for (const block of m.content) {
            if (block.type !== 'tool_result') continue;
            const id = String(block.tool_use_id);
            if (seen.has(id)) continue;
            seen.add(id);
            out.push({ toolUseId: id, isError: block.is_error === true, text: textOf(block.content) });
          }
        }
      }
      return out;
    },
    close: server.close,
  };
}

function answer(res: http.ServerResponse, request: MessagesRequest, step: Step, id: string, toolId: string): void {
  const model = request.model ?? 'claude-scripted';
  const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const block =
    'toolUse' in step
      ? { type: 'tool_use', id: toolId, name: step.toolUse.name, input: step.toolUse.input }
      : { type: 'text', text: step.text };
  const stopReason = 'toolUse' in step ? 'tool_use' : 'end_turn';
  if (!request.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [block],
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, 'message_start', {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 1 },
    },
  });
  if (block.type === 'tool_use') {
    sse(res, 'content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'tool_use', id: toolId, name: block.name, input: {} },
    });
    sse(res, 'content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) },
    });
  } else {
    sse(res, 'content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    sse(res, 'content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: block.text } });
  }
  sse(res, 'content_block_stop', { type: 'content_block_stop', index: 0 });
  sse(res, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: 5 },
  });
  sse(res, 'message_stop', { type: 'message_stop' });
  res.end();
}
