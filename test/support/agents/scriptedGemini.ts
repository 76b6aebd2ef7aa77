import type * as http from 'node:http';
import { jsonOr400, startLoopback } from './loopbackServer.js';
import type { Step } from './scriptedAnthropic.js';

/**
 * A scripted model for Gemini CLI: a loopback server speaking the Gemini API
 * (generateContent and streamGenerateContent), so a real Gemini CLI runs its
 * real MCP client and hooks with no model and no network. Requests of the main
 * conversation (they declare tools) get the next step; the CLI's side requests
 * (routing, checks: no tools, a JSON schema) get a JSON text of the router's shape.
 */
interface Part {
  text?: string;
  functionCall?: { name: string; args?: unknown };
  functionResponse?: { name: string; response?: unknown; id?: string };
}

export interface GeminiRequest {
  contents: Array<{ role: string; parts: Part[] }>;
  tools?: Array<{ functionDeclarations?: Array<{ name: string }> }>;
}

export interface ScriptedGemini {
  url: string;
  readonly requests: GeminiRequest[];
  /** What the client sent back for each tool call, in order: { name, response }. */
  functionResponses(): Array<{ name: string; response: unknown }>;
  close(): Promise<void>;
}

type Script = Array<Step | (() => Promise<Step>)>;

export async function startScriptedGemini(script: Script): Promise<ScriptedGemini> {
  const requests: GeminiRequest[] = [];
  const server = await startLoopback((req, res, url, body) => {
    const m = /^\/v1(?:beta|alpha)?\/models\/([^:]+):(generateContent|streamGenerateContent|countTokens)$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 404, message: `no ${req.method} ${url.pathname} here`, status: 'NOT_FOUND' } }));
      return;
    }
    if (m[2] === 'countTokens') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ totalTokens: 100 }));
      return;
    }
    const request = jsonOr400<GeminiRequest>(body, res);
    if (!request) return;
    const main = (request.tools ?? []).some((t) => (t.functionDeclarations ?? []).length > 0);
    const next = (): Promise<Step> => {
      const index = requests.length;
      requests.push(request);
      const step = script[index] ?? { text: 'done' };
      return typeof step === 'function' ? step() : Promise.resolve(step);
    };
    // The side requests we have seen are the router's classifier, which wants this shape.
    const side: Step = { text: JSON.stringify({ complexity_reasoning: 'scripted', complexity_score: 1 }) };
    void (main ? next() : Promise.resolve(side)).then((step) => answer(res, step, m[2] === 'streamGenerateContent'));
  });
  return {
    url: server.url,
    requests,
    functionResponses() {
      const last = requests[requests.length - 1];
      const out: Array<{ name: string; response: unknown }> = [];
      for (const content of last?.contents ?? [])
        for (const part of content.parts)
          if (part.functionResponse) out.push({ name: part.functionResponse.name, response: part.functionResponse.response });
      return out;
    },
    close: server.close,
  };
}

function answer(res: http.ServerResponse, step: Step, stream: boolean): void {
  const part: Part = 'toolUse' in step ? { functionCall: { name: step.toolUse.name, args: step.toolUse.input } } : { text: step.text };
  const chunk = {
    candidates: [{ content: { role: 'model', parts: [part] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
    modelVersion: 'gemini-scripted',
  };
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(chunk));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(`data: ${JSON.stringify(chunk)}\n\n`);
}
