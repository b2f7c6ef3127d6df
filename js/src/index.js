// jupyter-sente's JS channel-socket client: Sente's protocol over WebSocket or Ajax long-poll.

export { ChannelSocket, makeChannelSocketClient, replyError, resolveUrls } from "./client.js";
export { ednPacker, printEdn, readEdn } from "./edn.js";
export { envelope, handshakePayload, isHandshake, isServerPing, isWsCbId, makeCbId, openEnvelope, readHandshake } from "./envelope.js";
export {
  DecodeError,
  EncodeError,
  PackError,
  ProtocolError,
  ReplyClosed,
  ReplyError,
  ReplyFailed,
  ReplyTimeout,
  SenteError,
  TransitionError,
  UsageError,
} from "./errors.js";
export {
  AJAX,
  CHSK_BAD_EVENT,
  CHSK_CLOSED,
  CHSK_DUMMY_CB_200,
  CHSK_ERROR,
  CHSK_HANDSHAKE,
  CHSK_RECV,
  CHSK_STATE,
  CHSK_TIMEOUT,
  CHSK_WS_PING,
  CHSK_WS_PONG,
  NIL_UID,
  PONG,
  asEvent,
  badEvent,
  eventData,
  isEvent,
  isEventId,
  isReplyError,
  isReplySuccess,
  isReservedId,
  makeEvent,
} from "./events.js";
export { jsonPacker, makeJsonPacker } from "./json.js";
export { PACKER_NAMES, getPacker } from "./packers.js";
export { CLIENT_TYPES, CLOSE_REASONS, ClientConnection, ConnInput, ConnState, closedStateMap, initialStateMap, stateChange, transition } from "./state.js";
export { BACKOFF_CAP_MS, CLIENT_TIMING, expBackoffMs, reconnectDelayMs } from "./timing.js";
export { Char, Decimal, EdnList, EdnSymbol, Keyword, Tagged, Uuid, equals, isKeyword, kw } from "./values.js";
