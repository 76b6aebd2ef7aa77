import { z } from 'zod';
import { CoordinatorError } from '../../errors.js';
import { findGitLayout } from '../../repository/gitLayout.js';
import { tool } from './toolTable.js';

const client = z.object({ name: z.string(), version: z.string() });
export const agent = z
  .object({ kind: z.string(), sessionId: z.string() })
  .describe("The agent behind a session, in the agent's own terms (e.g. Claude Code's session id)");
const peer = z.object({
  sessionId: z.string(),
  client,
  agent: agent.optional(),
  transport: z.string(),
  state: z.string(),
  root: z.string(),
  tags: z.array(z.string()),
  parentId: z.string().optional(),
});

const whoamiOutput = {
  sessionId: z.string(),
  resumeHandle: z.string().optional().describe('Present this to session_resume after a reconnect to get this session back'),
  root: z.string(),
  refusedRoots: z.array(z.object({ uri: z.string(), reason: z.string() })).describe('Roots you declared that are outside the workspace'),
  client,
  agent: agent.optional().describe('Which agent this session serves, when the agent said (its environment or a hook)'),
  transport: z.string(),
  state: z.string(),
  tags: z.array(z.string()),
  parentId: z.string().optional(),
  childIds: z.array(z.string()),
  requestCount: z.number(),
  isDefault: z.boolean(),
  pid: z.number(),
  store: z
    .object({ kind: z.string(), location: z.string(), degraded: z.boolean() })
    .describe('Where shared context lives: a workspace folder, or a Redis project'),
  claimsStore: z
    .object({ kind: z.string(), location: z.string(), degraded: z.boolean() })
    .optional()
    .describe(
      'Where your claims live when not with the shared context: your root is in another workspace folder, whose project has its own',
    ),
  worktree: z
    .object({ path: z.string(), branch: z.string().optional(), detachedAt: z.string().optional() })
    .optional()
    .describe(
      'The git checkout your root is in (the main one or a linked worktree) and its branch; every worktree of the repository shares this project',
    ),
  peers: z.array(peer),
  participants: z
    .array(
      z.object({
        participantId: z.string(),
        kind: z.string(),
        label: z.string(),
        pid: z.number(),
        host: z.string(),
        sessions: z.array(
          z.object({ id: z.string(), clientName: z.string(), agent: agent.optional(), transport: z.string(), state: z.string() }),
        ),
      }),
    )
    .describe('Every live window and headless process on the project your root is in (where your claims live), with its sessions'),
};

// Built once per process: zod clones on every refinement, and this runs for every connection otherwise.
export const schemas = {
  whoami: { input: z.object({}), output: z.object(whoamiOutput) },
  resume: {
    input: z.object({ resumeHandle: z.string().min(1).describe('The resumeHandle returned by whoami before the reconnect') }),
    output: z.object({ sessionId: z.string(), root: z.string(), previousSessionId: z.string().optional(), tags: z.array(z.string()) }),
  },
  child: {
    input: z.object({ tags: z.array(z.string().min(1).max(64)).max(16).optional().describe('Extra tags for the child') }),
    output: z.object({ sessionId: z.string(), resumeHandle: z.string(), root: z.string(), parentId: z.string() }),
  },
};

/** whoami, session_resume, session_create_child: who an agent is and how it gets that back. */
export const sessionTools = [
  tool({
    name: 'whoami',
    title: 'Who am I',
    description:
      'Returns this session: its id, resume handle, project root, client, transport, tags, and the other sessions (peers) known to this coordinator.',
    ...schemas.whoami,
    annotations: { readOnlyHint: true },
    run: async (_args, { ctx, extra, roots }) => {
      await roots.ensure(extra);
      const exec = await ctx.coordinator.contextFor(ctx.connection.session?.id);
      const session = ctx.connection.session;
      const now = Date.now();
      const peers = ctx.coordinator.sessions
        .list()
        .filter((s) => s !== session)
        .map((s) => ({
          sessionId: s.id,
          client: s.client,
          ...(s.agent ? { agent: s.agent } : {}),
          transport: s.transport,
          state: s.state.kind,
          root: s.root,
          tags: [...s.tags],
          ...(s.parentId ? { parentId: s.parentId } : {}),
        }));
      const info = session?.info(now, ctx.coordinator.requests.countFor(session.id));
      const layout = await findGitLayout(exec.root);
      // A root in a second workspace folder claims in that folder's project: its participants hold those claims.
      const scope = await ctx.coordinator.scopeOf(exec.root);
      return {
        sessionId: exec.sessionId,
        ...(session ? { resumeHandle: session.resumeHandle } : {}),
        root: exec.root,
        refusedRoots: [...(info?.refusedRoots ?? [])],
        client: exec.client,
        ...(session?.agent ? { agent: session.agent } : {}),
        transport: exec.transport,
        state: info?.state.kind ?? 'none',
        tags: [...(info?.tags ?? [])],
        ...(info?.parentId ? { parentId: info.parentId } : {}),
        childIds: [...(info?.childIds ?? [])],
        requestCount: info?.requestCount ?? 0,
        isDefault: exec.isDefault,
        pid: process.pid,
        store: ctx.coordinator.store.describe(),
        ...(scope.primary ? {} : { claimsStore: scope.store.describe() }),
        ...(layout
          ? {
              worktree: {
                path: layout.worktree,
                ...(layout.branch ? { branch: layout.branch } : {}),
                ...(layout.detachedAt ? { detachedAt: layout.detachedAt } : {}),
              },
            }
          : {}),
        peers,
        participants: (await scope.store.participants()).map((p) => ({
          participantId: p.participantId,
          kind: p.kind,
          label: p.label,
          pid: p.pid,
          host: p.host,
          sessions: p.sessions.map((s) => ({
            id: s.id,
            clientName: s.clientName,
            ...(s.agent ? { agent: s.agent } : {}),
            transport: s.transport,
            state: s.state,
          })),
        })),
      };
    },
  }),
  tool({
    name: 'session_resume',
    title: 'Resume a session',
    description:
      'After a reconnect, hand over the resumeHandle that whoami gave you to get your earlier session back (its id, root, claims and subscriptions). The session this connection opened is then closed.',
    ...schemas.resume,
    run: async ({ resumeHandle }, { ctx, extra }) => {
      const target = ctx.coordinator.resume(resumeHandle);
      const previous = ctx.connection.session;
      ctx.connection.rebind(target, extra.requestId, (s) => ctx.hub.detachOthers(s, ctx.connection));
      return {
        sessionId: target.id,
        root: target.root,
        tags: [...target.tags],
        ...(previous && previous !== target ? { previousSessionId: previous.id } : {}),
      };
    },
  }),
  tool({
    name: 'session_create_child',
    title: 'Create a sub-agent session',
    description:
      "Creates a child session for a sub-agent: it inherits this session's root and tags and is closed when this session closes. Give the returned resumeHandle to the sub-agent; it calls session_resume with it after connecting.",
    ...schemas.child,
    run: async ({ tags }, { ctx }) => {
      const parent = ctx.connection.session;
      if (!parent) throw new CoordinatorError('SessionNotFound', 'This connection has no session yet: initialize first', {});
      const child = await ctx.coordinator.openSession({ transport: 'none', parentId: parent.id, tags: tags ?? [], client: parent.client });
      return { sessionId: child.id, resumeHandle: child.resumeHandle, root: child.root, parentId: parent.id };
    },
  }),
];
