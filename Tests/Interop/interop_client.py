#!/usr/bin/env python3
"""gRPC's standard interop cases, run with Python's grpcio (a stock client) against a server of
grpc.testing.TestService, each as gRPC's interop test descriptions describe it.

usage: interop_client.py HOST:PORT [--ca FILE --server-name NAME] [--cases a,b,...]

Stubs are generated from Protocol/grpc/testing at start (grpcio-tools). Prints `PASS <case>` or
`FAIL <case>: <why>` per case and exits 1 when any failed.
"""
import argparse
import os
import queue
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LARGE_REQUEST = 271828
LARGE_RESPONSE = 314159
REQUEST_SIZES = [27182, 8, 1828, 45904]
RESPONSE_SIZES = [31415, 9, 2653, 58979]
STATUS_MESSAGE = "test status message"
SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
ECHO_INITIAL = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
ECHO_TRAILING = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
TIMEOUT = 10


def stubs():
    import grpc_tools
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="interop-py-")
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = ["grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto"]
    if protoc.main(["protoc", f"-I{ROOT}/Protocol", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *files]) != 0:
        sys.exit("protoc failed")
    # The modules are grpc.testing.*: their package joins grpcio's own `grpc` package.
    import grpc
    grpc.__path__.append(os.path.join(out, "grpc"))


class Failed(Exception):
    pass


def expect(condition, why):
    if not condition:
        raise Failed(why)


class Pipe:
    """Request messages handed to a streaming call one at a time, ended by `close`."""

    def __init__(self):
        self._queue = queue.Queue()

    def send(self, message):
        self._queue.put(message)

    def close(self):
        self._queue.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        message = self._queue.get()
        if message is None:
            raise StopIteration
        return message


class Cases:
    def __init__(self, channel, grpc, pb, empty, services):
        self.grpc, self.pb, self.empty = grpc, pb, empty
        self.stub = services.TestServiceStub(channel)
        self.unimplemented = services.UnimplementedServiceStub(channel)

    def payload(self, size):
        return self.pb.Payload(body=b"\x00" * size)

    def expect_zeros(self, payload, size, what):
        expect(len(payload.body) == size, f"{what}: {len(payload.body)} bytes, expected {size}")
        expect(payload.body == b"\x00" * size, f"{what}: the body is not all zeros")

    def expect_status(self, error, code, message=None):
        expect(error.code() == code, f"status {error.code()}, expected {code}")
        if message is not None:
            expect(error.details() == message, f"message {error.details()!r}, expected {message!r}")

    def empty_unary(self):
        answer = self.stub.EmptyCall(self.empty.Empty(), timeout=TIMEOUT)
        expect(answer == self.empty.Empty(), "the answer is not an empty message")

    def large_unary(self):
        answer = self.stub.UnaryCall(
            self.pb.SimpleRequest(response_size=LARGE_RESPONSE, payload=self.payload(LARGE_REQUEST)), timeout=TIMEOUT)
        self.expect_zeros(answer.payload, LARGE_RESPONSE, "the payload")

    def client_streaming(self):
        requests = [self.pb.StreamingInputCallRequest(payload=self.payload(size)) for size in REQUEST_SIZES]
        answer = self.stub.StreamingInputCall(iter(requests), timeout=TIMEOUT)
        expect(answer.aggregated_payload_size == 74922, f"aggregated {answer.aggregated_payload_size}, expected 74922")

    def server_streaming(self):
        request = self.pb.StreamingOutputCallRequest(
            response_parameters=[self.pb.ResponseParameters(size=size) for size in RESPONSE_SIZES])
        responses = list(self.stub.StreamingOutputCall(request, timeout=TIMEOUT))
        expect(len(responses) == 4, f"{len(responses)} responses, expected 4")
        for response, size in zip(responses, RESPONSE_SIZES):
            self.expect_zeros(response.payload, size, "a response")

    def ping_pong(self):
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=TIMEOUT)
        for request_size, response_size in zip(REQUEST_SIZES, RESPONSE_SIZES):
            pipe.send(self.pb.StreamingOutputCallRequest(
                response_parameters=[self.pb.ResponseParameters(size=response_size)], payload=self.payload(request_size)))
            self.expect_zeros(next(call).payload, response_size, "a pong")
        pipe.close()
        expect(next(call, None) is None, "a response after the last ping")
        expect(call.code() == self.grpc.StatusCode.OK, f"ended with {call.code()}")

    def empty_stream(self):
        responses = list(self.stub.FullDuplexCall(iter([]), timeout=TIMEOUT))
        expect(responses == [], f"{len(responses)} responses to no request")

    def status_code_and_message(self):
        status = self.pb.EchoStatus(code=2, message=STATUS_MESSAGE)
        try:
            self.stub.UnaryCall(self.pb.SimpleRequest(response_status=status), timeout=TIMEOUT)
            raise Failed("UnaryCall answered")
        except self.grpc.RpcError as error:
            self.expect_status(error, self.grpc.StatusCode.UNKNOWN, STATUS_MESSAGE)
        call = self.stub.FullDuplexCall(iter([self.pb.StreamingOutputCallRequest(response_status=status)]), timeout=TIMEOUT)
        try:
            list(call)
            raise Failed("FullDuplexCall ended OK")
        except self.grpc.RpcError as error:
            self.expect_status(error, self.grpc.StatusCode.UNKNOWN, STATUS_MESSAGE)

    def special_status_message(self):
        status = self.pb.EchoStatus(code=2, message=SPECIAL_STATUS_MESSAGE)
        try:
            self.stub.UnaryCall(self.pb.SimpleRequest(response_status=status), timeout=TIMEOUT)
            raise Failed("UnaryCall answered")
        except self.grpc.RpcError as error:
            self.expect_status(error, self.grpc.StatusCode.UNKNOWN, SPECIAL_STATUS_MESSAGE)

    def custom_metadata(self):
        metadata = [ECHO_INITIAL, ECHO_TRAILING]
        request = self.pb.SimpleRequest(response_size=LARGE_RESPONSE, payload=self.payload(LARGE_REQUEST))
        answer, call = self.stub.UnaryCall.with_call(request, metadata=metadata, timeout=TIMEOUT)
        self.expect_zeros(answer.payload, LARGE_RESPONSE, "the payload")
        self.expect_echo(call.initial_metadata(), call.trailing_metadata(), "UnaryCall")
        stream = self.stub.FullDuplexCall(iter([self.pb.StreamingOutputCallRequest(
            response_parameters=[self.pb.ResponseParameters(size=LARGE_RESPONSE)], payload=self.payload(LARGE_REQUEST))]),
            metadata=metadata, timeout=TIMEOUT)
        responses = list(stream)
        expect(len(responses) == 1, f"{len(responses)} responses, expected 1")
        self.expect_echo(stream.initial_metadata(), stream.trailing_metadata(), "FullDuplexCall")

    def expect_echo(self, initial, trailing, method):
        expect(ECHO_INITIAL in [tuple(item) for item in initial], f"{method}: no initial echo in {initial}")
        expect(ECHO_TRAILING in [tuple(item) for item in trailing], f"{method}: no trailing echo in {trailing}")

    def unimplemented_method(self):
        try:
            self.stub.UnimplementedCall(self.empty.Empty(), timeout=TIMEOUT)
            raise Failed("UnimplementedCall answered")
        except self.grpc.RpcError as error:
            self.expect_status(error, self.grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service(self):
        try:
            self.unimplemented.UnimplementedCall(self.empty.Empty(), timeout=TIMEOUT)
            raise Failed("UnimplementedService answered")
        except self.grpc.RpcError as error:
            self.expect_status(error, self.grpc.StatusCode.UNIMPLEMENTED)

    def timeout_on_sleeping_server(self):
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=0.001)
        pipe.send(self.pb.StreamingOutputCallRequest(payload=self.payload(27182)))
        try:
            list(call)
            raise Failed("the call ended OK")
        except self.grpc.RpcError as error:
            self.expect_status(error, self.grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            pipe.close()

    def cancel_after_begin(self):
        pipe = Pipe()
        future = self.stub.StreamingInputCall.future(pipe, timeout=TIMEOUT)
        future.cancel()
        pipe.close()
        expect(future.cancelled(), "the call was not cancelled")
        expect(future.code() == self.grpc.StatusCode.CANCELLED, f"ended with {future.code()}")
        try:
            future.result()
            raise Failed("the call answered")
        except self.grpc.FutureCancelledError:
            pass

    def cancel_after_first_response(self):
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=TIMEOUT)
        pipe.send(self.pb.StreamingOutputCallRequest(
            response_parameters=[self.pb.ResponseParameters(size=31415)], payload=self.payload(27182)))
        self.expect_zeros(next(call).payload, 31415, "the first response")
        call.cancel()
        pipe.close()
        expect(call.code() == self.grpc.StatusCode.CANCELLED, f"ended with {call.code()}")


CASES = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
    "status_code_and_message", "special_status_message", "custom_metadata", "unimplemented_method",
    "unimplemented_service", "timeout_on_sleeping_server", "cancel_after_begin", "cancel_after_first_response",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("--ca", help="trust this CA and speak TLS")
    parser.add_argument("--server-name", default="localhost", help="the name the server's certificate holds")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    stubs()
    import grpc
    from grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc

    if args.ca:
        credentials = grpc.ssl_channel_credentials(root_certificates=open(args.ca, "rb").read())
        channel = grpc.secure_channel(args.address, credentials, options=[("grpc.ssl_target_name_override", args.server_name)])
    else:
        channel = grpc.insecure_channel(args.address)
    cases = Cases(channel, grpc, messages_pb2, empty_pb2, test_pb2_grpc)
    failed = 0
    for name in args.cases.split(","):
        if name not in CASES:
            sys.exit(f"unknown case {name}")
        try:
            getattr(cases, name)()
            print(f"PASS {name}", flush=True)
        except (Failed, grpc.RpcError) as problem:
            failed += 1
            print(f"FAIL {name}: {problem}", flush=True)
    channel.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
