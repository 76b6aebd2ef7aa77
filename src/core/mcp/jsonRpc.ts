import { ErrorCode, type JSONRPCMessage, type JSONRPCRequest, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import { isCoordinatorError, type CoordinatorError } from '../errors.js';

/** JSON-RPC code for refusals of our own (limits, sessions): the implementation-defined server range. */
export const COORDINATOR_ERROR = -32000;

export function isRequest(m: JSONRPCMessage): m is JSONRPCRequest {
  return 'method' in m && 'id' in m && m.id !== undefined;
}

export function isResponse(m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId } {
  return !('method' in m) && 'id' in m && m.id !== undefined && ('result' in m || 'error' in m);
}

export function errorResponse(id: RequestId, code: number, message: string, data?: unknown): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** A domain error on the wire: the message for people, the stable code and context for programs. */
export function coordinatorErrorResponse(id: RequestId, e: CoordinatorError): JSONRPCMessage {
  const code =
    e.code === 'DuplicateRequestId' ? ErrorCode.InvalidRequest : e.code === 'RequestTimeout' ? ErrorCode.RequestTimeout : COORDINATOR_ERROR;
  return errorResponse(id, code, e.message, { code: e.code, ...e.details });
}

export function toWireError(id: RequestId, e: unknown): JSONRPCMessage {
  return isCoordinatorError(e)
    ? coordinatorErrorResponse(id, e)
    : errorResponse(id, ErrorCode.InternalError, 'Internal error in the session coordinator; see its log');
}
