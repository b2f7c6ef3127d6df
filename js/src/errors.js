// The one exception tree, mirroring jupyter_sente/exceptions.py:
//
//   SenteError
//   ├── UsageError            the caller misused the API (invalid event to send, bad option)
//   │   └── TransitionError   an illegal move in a connection state machine (names state + event)
//   ├── PackError             a value could not be packed or a text could not be unpacked
//   │   ├── EncodeError       pack(): the value has no representation in this packer
//   │   └── DecodeError       unpack(): the text is not valid (carries `position`)
//   ├── ProtocolError         the peer broke the protocol (e.g. an envelope that is not [x cb-id])
//   └── ReplyError            a request ended without a reply (Sente's reserved callback values)
//       ├── ReplyTimeout      :chsk/timeout
//       ├── ReplyClosed       :chsk/closed
//       └── ReplyFailed       :chsk/error

export class SenteError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

export class UsageError extends SenteError {}

export class TransitionError extends UsageError {
  /**
   * @param {string} machine
   * @param {string} state
   * @param {string} event
   */
  constructor(machine, state, event) {
    super(`${machine}: no transition from state "${state}" on event "${event}"`);
    this.machine = machine;
    this.state = state;
    this.event = event;
  }
}

export class PackError extends SenteError {}

export class EncodeError extends PackError {}

export class DecodeError extends PackError {
  /**
   * @param {string} message
   * @param {number | null} [position] character offset in the text
   */
  constructor(message, position = null) {
    super(position === null ? message : `${message} at position ${position}`);
    this.reason = message;
    this.position = position;
  }
}

export class ProtocolError extends SenteError {}

export class ReplyError extends SenteError {
  /**
   * @param {string} message
   * @param {import("./values.js").Keyword} value the reserved reply value
   */
  constructor(message, value) {
    super(message);
    this.value = value;
  }
}

export class ReplyTimeout extends ReplyError {}

export class ReplyClosed extends ReplyError {}

export class ReplyFailed extends ReplyError {}
