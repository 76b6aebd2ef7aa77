import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { msUntilGranted, relayAgent } from '../support/agentExit.js';
import { runGemini } from '../support/agents/geminiCli.js';
import { startScriptedGemini } from '../support/agents/scriptedGemini.js';
import { runCliWith } from '../support/cliProcesses.js';
import { httpClient } from '../support/mcpClients.js';
import { cliEnv, startServe } from '../support/processes.js';
import { tempDir } from '../support/workspace.js';

// A second real agent (R-AGT-5): Gemini CLI from the npm registry, set up with
// `setup gemini`, its real MCP client and BeforeTool hook, and a scripted model.

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** A workspace with a live participant, set up by `setup gemini`; the token is the install's file. */
async function geminiProject(): Promise<{
  ws: { path: string };
  home: { path: string };
  server: Awaited<ReturnType<typeof startServe>>;
  token: string;
}> {
  const ws = tempDir();
  const home = tempDir();
  cleanup.push(ws.remove, home.remove);
  // No token in the environment: Gemini CLI drops *TOKEN* variables, so everyone uses the install's token file.
  const env = { SESSION_COORDINATOR_TOKEN: undefined };
  const server = await startServe(ws.path, home.path, [], env);
  cleanup.push(() => server.stop());
  const done = await runCliWith(['setup', 'gemini', '--workspace', ws.path], cliEnv(home.path, env));
  assert.equal(done.code, 0, done.stderr);
  return { ws, home, server, token: readFileSync(path.join(home.path, 'token'), 'utf8').trim() };
}

test("R-AGT-5, R-AGT-2, R-AGT-4, R-AGT-1: Gemini CLI set up by setup gemini: its MCP session and its hook are one agent; a write into another agent's claim is blocked with the holder; its claims go when it exits", async () => {
  const { ws, home, server, token } = await geminiProject();
  const holder = await relayAgent(
    ws.path,
    home.path,
    { CLAUDE_CODE_SESSION_ID: 'holder-agent-0001', SESSION_COORDINATOR_TOKEN: token },
    'claude-code',
  );
  cleanup.push(() => holder.client.close());
  assert.equal(
    (await holder.client.callTool({ name: 'claim_acquire', arguments: { resource: 'src/locked', ttlSeconds: 600 } })).isError,
    undefined,
  );
  const locked = path.join(ws.path, 'src', 'locked', 'a.ts');
  mkdirSync(path.dirname(locked), { recursive: true });
  writeFileSync(locked, 'export const a = 1;\n');
  const mine = path.join(ws.path, 'lib', 'mine.ts');

  const model = await startScriptedGemini([
    { toolUse: { name: 'mcp_session-coordinator_whoami', input: {} } },
    { toolUse: { name: 'mcp_session-coordinator_claim_acquire', input: { resource: 'lib', ttlSeconds: 600 } } },
    { toolUse: { name: 'write_file', input: { file_path: mine, content: 'export const mine = 1;\n' } } },
    { toolUse: { name: 'replace', input: { file_path: locked, old_string: '1', new_string: '2', instruction: 'change it' } } },
    { text: 'done' },
  ]);
  cleanup.push(() => model.close());
  const result = await runGemini({ workspace: ws.path, modelUrl: model.url, coordinatorHome: home.path });
  assert.equal(result.code, 0, result.stderr.slice(-2000));
  const [whoami, claim, write, replace] = model.functionResponses();
  // Gemini CLI wraps what an MCP tool returns in an <untrusted_context> element.
  const output = (whoami?.response as { output?: string } | undefined)?.output ?? '';
  const me = JSON.parse(output.replace(/^<untrusted_context>\n/, '').replace(/\n<\/untrusted_context>$/, '')) as {
    client?: { name: string };
    agent?: { kind: string; sessionId: string };
  };
  assert.equal(me.client?.name, 'gemini-cli-mcp-client');
  assert.equal(me.agent?.kind, 'gemini', 'the MCP session knows its agent');
  assert.doesNotMatch(JSON.stringify(claim?.response), /error/i, JSON.stringify(claim?.response));
  assert.doesNotMatch(
    JSON.stringify(write?.response),
    /blocked/i,
    `its own MCP claim blocked its write: ${JSON.stringify(write?.response)}`,
  );
  assert.equal(readFileSync(mine, 'utf8'), 'export const mine = 1;\n');
  assert.match(
    JSON.stringify(replace?.response),
    /blocked.*src\/locked\/a\.ts is claimed \(through src\/locked\) by claude-code session holder-a…/,
  );
  assert.equal(readFileSync(locked, 'utf8'), 'export const a = 1;\n', 'the blocked file is unchanged');

  const other = await httpClient(server.url, 'other', token);
  cleanup.push(() => other.client.close());
  const ms = await msUntilGranted(other.client, 'lib', result.exitedAt, 5_000);
  assert.ok(ms <= 1_000, `Gemini's claim was free ${ms} ms after it exited`);
});

test('R-AGT-6, R-AGT-5: a message to a Gemini CLI agent reaches its model after its next tool call (AfterTool hook, <hook_context>), once', async () => {
  const { ws, home, server, token } = await geminiProject();
  const sender = await httpClient(server.url, 'sender', token);
  cleanup.push(() => sender.client.close());
  let sent = '';
  const model = await startScriptedGemini([
    { toolUse: { name: 'mcp_session-coordinator_whoami', input: {} } },
    async () => {
      // The agent is known by now (its MCP session): tell it something, then let it make one more call.
      const who = model.functionResponses()[0]?.response as { output?: string } | undefined;
      const agent = /"agent":\{"kind":"gemini","sessionId":"([^"]+)"/.exec(who?.output ?? '')?.[1];
      assert.ok(agent, `whoami named no gemini agent: ${who?.output?.slice(0, 300)}`);
      const r = await sender.client.callTool({
        name: 'message_send',
        arguments: { to: `gemini:${agent}`, body: 'Leave src/api alone: I am migrating it' },
      });
      assert.equal(r.isError, undefined, JSON.stringify(r.content));
      sent = `gemini:${agent}`;
      return { toolUse: { name: 'mcp_session-coordinator_claim_list', input: {} } };
    },
    { toolUse: { name: 'mcp_session-coordinator_claim_list', input: {} } },
    { text: 'done' },
  ]);
  cleanup.push(() => model.close());
  const result = await runGemini({ workspace: ws.path, modelUrl: model.url, coordinatorHome: home.path });
  assert.equal(result.code, 0, result.stderr.slice(-2000));
  assert.ok(sent, 'the message was sent');
  const [, afterList, secondList] = model.functionResponses();
  assert.match(
    JSON.stringify(afterList?.response),
    /hook_context.*Leave src\/api alone: I am migrating it/s,
    `the tool result after the message carries it: ${JSON.stringify(afterList?.response).slice(-600)}`,
  );
  assert.doesNotMatch(JSON.stringify(secondList?.response), /Leave src\/api alone/, 'delivered once');
});
