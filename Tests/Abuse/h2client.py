"""A gRPC client over raw HTTP/2 (hyper-h2), so the suite controls every header and every byte of
the request body, keeps many streams in flight per connection, and sees exactly how each stream
ended: a grpc-status, an RST_STREAM, a GOAWAY or a dropped connection.

Stock clients (grpcio) validate and normalise what they send and fold transport failures into
UNAVAILABLE, which is exactly what the attacks must not have done for them.
"""
from __future__ import annotations

import dataclasses
import selectors
import socket
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hyperframe.frame

import wire


@dataclasses.dataclass
class Outcome:
    """How one gRPC call ended, as seen on the wire."""
    status: int | None = None
    message: str = ""
    http_status: int | None = None
    reset: int | None = None          # RST_STREAM code sent by the server
    goaway: int | None = None         # GOAWAY code when the connection ended before a status
    dropped: bool = False             # the connection closed before the stream ended
    timed_out: bool = False           # the client stopped waiting
    cancelled: bool = False           # the client reset the stream itself
    connection_error: str = ""        # why the connection ended, when it ended the call
    request_id: str = ""              # x-request-id the server answered with (the gateway's call id)
    data: bytes = b""
    started: float = 0.0
    ended: float = 0.0

    @property
    def messages(self) -> list[bytes]:
        return wire.unframe(self.data)

    @property
    def latency(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def label(self) -> str:
        """A short name for the statistics table: a status name or how the stream ended without one."""
        if self.status is not None:
            return wire.status_name(self.status)
        if self.cancelled:
            return "CLIENT_CANCEL"
        if self.reset is not None:
            return f"RST_STREAM:{wire.h2_error_name(self.reset)}"
        if self.goaway is not None:
            return f"GOAWAY:{wire.h2_error_name(self.goaway)}"
        if self.dropped:
            return "CONNECTION_DROPPED"
        if self.timed_out:
            return "NO_ANSWER"
        if self.http_status not in (None, 200):
            return f"HTTP_{self.http_status}"
        return "NO_STATUS"

    def describe(self) -> str:
        text = self.label()
        if self.http_status not in (None, 200):
            text += f" (HTTP {self.http_status})"
        if self.connection_error:
            text += f" ({self.connection_error})"
        if self.message:
            shown = self.message if len(self.message) <= 160 else self.message[:160] + f"... ({len(self.message)} chars)"
            text += f": {shown!r}"
        return text


class Body:
    """A request body produced lazily, so a 64 MiB request need not exist in memory at once."""

    def __init__(self, head: bytes, total: int = 0, filler: bytes = b"x"):
        self.head = head
        self.total = max(total, len(head))
        self.filler = filler
        self.sent = 0

    def remaining(self) -> int:
        return self.total - self.sent

    def take(self, size: int) -> bytes:
        size = min(size, self.remaining())
        out = bytearray()
        if self.sent < len(self.head):
            out += self.head[self.sent:self.sent + size]
        missing = size - len(out)
        if missing:
            out += (self.filler * (missing // len(self.filler) + 1))[:missing]
        self.sent += size
        return bytes(out)


class _Request:
    def __init__(self, body: Body | None, end_stream: bool, outcome: Outcome, on_done, tag=None):
        self.tag = tag
        self.finished_before = 0     # calls the connection had finished when this one started
        self.body = body
        self.end_stream = end_stream
        self.outcome = outcome
        self.on_done = on_done
        self.done = False


class _LenientConnection(h2.connection.H2Connection):
    """An H2Connection that can be told to ignore the peer's SETTINGS_MAX_CONCURRENT_STREAMS, for
    the stream-limit overrun attack (h2 otherwise refuses to open the extra streams itself), and
    that counts the RST_STREAM frames it sends, including those h2 sends on its own for frames
    arriving on streams it already closed (servers limit resets per connection)."""
    ignore_stream_limit = False
    resets_sent = 0

    def _prepare_for_sending(self, frames) -> None:
        self.resets_sent += sum(1 for frame in frames if isinstance(frame, hyperframe.frame.RstStreamFrame))
        super()._prepare_for_sending(frames)

    @property
    def open_outbound_streams(self) -> int:
        count = super().open_outbound_streams
        return 0 if self.ignore_stream_limit else count


class Connection:
    """One client HTTP/2 connection carrying many gRPC calls.

    Not thread-safe: one thread drives it with `pump`, or a `Multiplexer` drives several.
    """

    RECEIVE_WINDOW = 16 * 1024 * 1024

    def __init__(self, host: str, port: int, connect_timeout: float = 3.0):
        self.address = (host, port)
        self.authority = f"{host}:{port}"
        self.sock = socket.create_connection(self.address, timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        config = h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False,
            normalize_outbound_headers=False, validate_inbound_headers=False)
        self.h2 = _LenientConnection(config=config)
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.RECEIVE_WINDOW,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 20,
        })
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(self.RECEIVE_WINDOW)
        self.requests: dict[int, _Request] = {}
        self.finished = 0         # calls ended on this connection
        self.closed = False
        self.goaway: tuple[int, int] | None = None   # (error code, last stream id)
        self.goaway_at: float | None = None
        self.remote_settings: dict[int, int] = {}
        self.settings_received = False
        self.close_reason = ""
        self._outbox = bytearray(self.h2.data_to_send())
        self.flush()

    # -- sending ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Writes what h2 has queued, as far as the socket accepts it without blocking."""
        self._outbox += self.h2.data_to_send()
        while self._outbox and not self.closed:
            try:
                sent = self.sock.send(self._outbox)
            except BlockingIOError:
                return
            except OSError as error:
                self._lost(f"send failed: {error}")
                return
            del self._outbox[:sent]

    @property
    def wants_write(self) -> bool:
        return bool(self._outbox)

    @property
    def client_resets(self) -> int:
        """RST_STREAM frames this client has sent on the connection."""
        return self.h2.resets_sent

    @property
    def in_flight(self) -> int:
        return sum(1 for request in self.requests.values() if not request.done)

    def can_open(self) -> bool:
        return not self.closed and self.goaway is None

    def start(self, path: str, headers: list[tuple[bytes, bytes]], body: bytes | Body | None,
              end_stream: bool = True, on_done=None, tag=None) -> tuple[int, Outcome]:
        """Opens a stream with `headers` and sends `body` (raw DATA payload, framing included) as
        flow control allows; `on_done(outcome)` is called once the stream has ended; `tag` is kept
        with the stream for the caller."""
        outcome = Outcome(started=time.monotonic())
        if not self.can_open():
            outcome.dropped = True
            outcome.ended = outcome.started
            if on_done:
                on_done(outcome)
            return 0, outcome
        stream_id = self.h2.get_next_available_stream_id()
        if isinstance(body, (bytes, bytearray)):
            body = Body(bytes(body)) if body else None
        empty = body is None or body.remaining() == 0
        request = _Request(body if not empty else None, end_stream, outcome, on_done, tag)
        request.finished_before = self.finished
        self.requests[stream_id] = request
        try:
            self.h2.send_headers(stream_id, headers, end_stream=end_stream and empty)
        except h2.exceptions.H2Error as error:
            self._finish(stream_id, lambda o: setattr(o, "dropped", True))
            self.close_reason = f"h2 refused to send headers: {error}"
            return stream_id, outcome
        self._send_pending(stream_id)
        self.flush()
        return stream_id, outcome

    def cancel(self, stream_id: int, code: int = wire.CANCEL) -> None:
        """Resets a stream from the client side (what a client does when its caller gives up)."""
        request = self.requests.get(stream_id)
        if request is None or request.done:
            return
        try:
            self.h2.reset_stream(stream_id, error_code=code)
        except h2.exceptions.H2Error:
            pass
        self._finish(stream_id, lambda o: setattr(o, "cancelled", True))

    def ping(self) -> None:
        self.h2.ping(b"abuse-pg")
        self.flush()

    def close(self) -> None:
        if not self.closed:
            try:
                self.h2.close_connection()
                self.flush()
            except Exception:
                pass
        self._lost("closed by client", by_client=True)

    def _send_pending(self, stream_id: int) -> None:
        request = self.requests.get(stream_id)
        if request is None or request.body is None or request.done:
            return
        try:
            while request.body.remaining() > 0:
                window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
                if window <= 0:
                    return
                chunk = request.body.take(window)
                last = request.body.remaining() == 0
                self.h2.send_data(stream_id, chunk, end_stream=last and request.end_stream)
                if len(self._outbox) > (1 << 20):
                    self.flush()
            request.body = None
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            request.body = None

    # -- receiving --------------------------------------------------------------------------

    def fileno(self) -> int:
        return self.sock.fileno()

    def on_readable(self) -> None:
        """Reads what the socket has and turns h2 events into call outcomes."""
        while not self.closed:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                break
            except OSError as error:
                self._lost(f"recv failed: {error}")
                return
            if not data:
                self._lost("closed by server")
                return
            try:
                events = self.h2.receive_data(data)
            except h2.exceptions.ProtocolError as error:
                self._lost(f"server broke HTTP/2: {error}")
                return
            for event in events:
                self._handle(event)
        self.flush()

    def _handle(self, event) -> None:
        if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
            request = self.requests.get(event.stream_id)
            if request is None:
                return
            for key, value in event.headers:
                if key == b":status":
                    request.outcome.http_status = int(value) if value.isdigit() else -1
                elif key == b"grpc-status":
                    request.outcome.status = int(value) if value.isdigit() else -1
                elif key == b"grpc-message":
                    request.outcome.message = wire.decode_message(value)
                elif key == b"x-request-id":
                    request.outcome.request_id = value.decode("utf-8", "replace")
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            request = self.requests.get(event.stream_id)
            if request is not None and len(request.outcome.data) < (1 << 22):
                request.outcome.data += event.data
        elif isinstance(event, h2.events.StreamEnded):
            self._finish(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            if event.remote_reset:
                self._finish(event.stream_id, lambda o: setattr(o, "reset", event.error_code))
        elif isinstance(event, h2.events.WindowUpdated):
            for stream_id in ([event.stream_id] if event.stream_id else list(self.requests)):
                self._send_pending(stream_id)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_received = True
            for code, change in event.changed_settings.items():
                self.remote_settings[int(code)] = change.new_value
            for stream_id in list(self.requests):
                self._send_pending(stream_id)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = (event.error_code, event.last_stream_id)
            if event.additional_data:
                self.close_reason = f"GOAWAY data {event.additional_data[:100]!r}"
            self.goaway_at = time.monotonic()
            # Streams the server says it never processed end now; the others may still finish.
            for stream_id in list(self.requests):
                if stream_id > (event.last_stream_id or 0):
                    self._finish(stream_id, lambda o: setattr(o, "goaway", event.error_code))

    def _finish(self, stream_id: int, mark=None) -> None:
        request = self.requests.get(stream_id)
        if request is None or request.done:
            return
        request.done = True
        request.body = None
        if mark is not None:
            mark(request.outcome)
        request.outcome.ended = time.monotonic()
        self.finished += 1
        del self.requests[stream_id]
        if request.on_done:
            request.on_done(request.outcome)

    def _lost(self, reason: str, by_client: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = self.close_reason or reason
        try:
            self.sock.close()
        except OSError:
            pass
        code = self.goaway[0] if self.goaway else None
        why = self.close_reason + (f" after GOAWAY {wire.h2_error_name(code)}" if code is not None else "")

        def mark(outcome: Outcome) -> None:
            if by_client:
                outcome.cancelled = True
                return
            if code is not None:
                outcome.goaway = code
            else:
                outcome.dropped = True
            outcome.connection_error = why
        for stream_id in list(self.requests):
            self._finish(stream_id, mark)

    def expire(self, older_than: float) -> None:
        """Gives up on calls started before `older_than` (monotonic): they count as unanswered."""
        for stream_id, request in list(self.requests.items()):
            if request.outcome.started < older_than:
                state = (f"{'response headers' if request.outcome.http_status else 'no response headers'}, "
                         f"{request.body.remaining() if request.body else 0} request bytes unsent, connection send "
                         f"window {self.h2.outbound_flow_control_window}; meanwhile "
                         f"{self.finished - request.finished_before} other calls ended on the connection, "
                         f"{self.in_flight - 1} still in flight")
                try:
                    self.h2.reset_stream(stream_id, error_code=wire.CANCEL)
                except h2.exceptions.H2Error:
                    pass
                self._finish(stream_id, lambda o: (setattr(o, "timed_out", True), setattr(o, "connection_error", state)))
        self.flush()

    # -- driving ----------------------------------------------------------------------------

    def pump(self, timeout: float) -> None:
        """Waits up to `timeout` for the socket and handles what arrived."""
        if self.closed:
            return
        with selectors.DefaultSelector() as selector:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.wants_write else 0)
            selector.register(self.sock, events)
            ready = selector.select(timeout)
        if ready:
            self.on_readable()
        self.flush()

    def run_until(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return predicate()
            self.pump(min(left, 0.05))
        return True

    def wait_settings(self, timeout: float = 2.0) -> bool:
        return self.run_until(lambda: self.settings_received, timeout)


def call(host: str, port: int, path: str, body: bytes | Body | None, metadata=(), timeout_header: str | None = None,
         wait: float = 10.0, end_stream: bool = True, raw_headers: list[tuple[bytes, bytes]] | None = None) -> Outcome:
    """One call on a fresh connection; the outcome, with `timed_out` set after `wait` seconds."""
    try:
        connection = Connection(host, port)
    except OSError as error:
        return Outcome(dropped=True, message=f"connect failed: {error}", started=time.monotonic(), ended=time.monotonic())
    try:
        headers = raw_headers if raw_headers is not None else wire.request_headers(
            connection.authority, path, metadata, timeout_header)
        _, outcome = connection.start(path, headers, body, end_stream=end_stream)
        connection.run_until(lambda: outcome.ended, wait)
        if not outcome.ended:
            connection.expire(time.monotonic() + 1)
        return outcome
    finally:
        connection.close()
