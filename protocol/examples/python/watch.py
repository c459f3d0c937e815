#!/usr/bin/env python3
"""Print the edge-infer daemon's Hello and the next COUNT Detections messages (all without COUNT).

Standard library only. Same output as examples/watch.rs and examples/c/watch.c; the format is
protocol/PROTOCOL.md.

    python3 watch.py /run/edge-infer/detections.sock 10

Exit status (sysexits): 0 done, 64 usage, 65 bad data from the daemon, 69 daemon unavailable or
gone, 74 I/O error.
"""

import socket
import struct
import sys

MAGIC = b"EDGI"
VERSION = 1
KIND_HELLO = 1
KIND_DETECTIONS = 2

HEADER = struct.Struct("<4sHHII")  # magic, version, kind, payload_length, reserved: 16 bytes
HELLO = struct.Struct("<64s6I")  # model_name, input w/h, source w/h, max_detections, class_count
DETECTIONS = struct.Struct("<QQQ4I")  # sequence, capture_ns, publish_ns, source w/h, dropped, count
DETECTION = struct.Struct("<HH5f")  # class, reserved, score, x1, y1, x2, y2: 24 bytes

MODEL_NAME_LEN = 64
CLASS_NAME_LEN = 32
MAX_CLASSES = 1024
MAX_DETECTIONS = 256
HELLO_FIXED_LEN = HEADER.size + HELLO.size  # 104
DETECTIONS_FIXED_LEN = HEADER.size + DETECTIONS.size  # 56
MAX_MESSAGE_LEN = HELLO_FIXED_LEN + CLASS_NAME_LEN * MAX_CLASSES  # 32872

# (offset, size, name) of each fixed field, for "truncated at" errors.
HEADER_FIELDS = [(0, 4, "header.magic"), (4, 2, "header.version"), (6, 2, "header.kind"),
                 (8, 4, "header.payload_length"), (12, 4, "header.reserved")]
HELLO_FIELDS = [(16, 64, "hello.model_name"), (80, 4, "hello.input_width"),
                (84, 4, "hello.input_height"), (88, 4, "hello.source_width"),
                (92, 4, "hello.source_height"), (96, 4, "hello.max_detections"),
                (100, 4, "hello.class_count")]
DETECTIONS_FIELDS = [(16, 8, "detections.sequence"), (24, 8, "detections.capture_ns"),
                     (32, 8, "detections.publish_ns"), (40, 4, "detections.source_width"),
                     (44, 4, "detections.source_height"), (48, 4, "detections.dropped_since_last"),
                     (52, 4, "detections.count")]
FLOATS = ["detection.score", "detection.x1", "detection.y1", "detection.x2", "detection.y2"]


class ProtocolError(Exception):
    def __init__(self, offset, field, what):
        super().__init__("at byte %d (%s): %s" % (offset, field, what))
        self.offset = offset
        self.field = field


def check_fits(packet, fields):
    for offset, size, name in fields:
        if offset + size > len(packet):
            raise ProtocolError(offset, name, "truncated: the packet has %d bytes" % len(packet))


def text(packet, offset, size, field):
    raw = packet[offset:offset + size].split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(offset + e.start, field, "invalid UTF-8")


def is_finite(x):
    return x == x and x not in (float("inf"), float("-inf"))


def decode(packet):
    """One packet -> ("hello", dict) or ("detections", dict); ProtocolError if invalid.
    Checks PROTOCOL.md's "Validation", in its order."""
    check_fits(packet, HEADER_FIELDS[:1])
    if packet[:4] != MAGIC:
        raise ProtocolError(0, "header.magic", "wrong magic %r: not an edge-infer message" % packet[:4])
    check_fits(packet, HEADER_FIELDS[:2])
    (version,) = struct.unpack_from("<H", packet, 4)
    if version != VERSION:
        raise ProtocolError(4, "header.version", "unsupported protocol version %d (this client speaks %d)"
                            % (version, VERSION))
    check_fits(packet, HEADER_FIELDS[:3])
    (kind,) = struct.unpack_from("<H", packet, 6)
    if kind not in (KIND_HELLO, KIND_DETECTIONS):
        raise ProtocolError(6, "header.kind", "unknown message kind %d" % kind)
    check_fits(packet, HEADER_FIELDS)
    _, _, _, payload_length, _ = HEADER.unpack_from(packet, 0)
    if payload_length != len(packet) - HEADER.size:
        raise ProtocolError(8, "header.payload_length", "length mismatch: %d, the packet has %d"
                            % (payload_length, len(packet) - HEADER.size))

    if kind == KIND_HELLO:
        check_fits(packet, HELLO_FIELDS)
        _, in_w, in_h, src_w, src_h, max_det, class_count = HELLO.unpack_from(packet, HEADER.size)
        if max_det > MAX_DETECTIONS:
            raise ProtocolError(96, "hello.max_detections", "%d is more than %d" % (max_det, MAX_DETECTIONS))
        if class_count > MAX_CLASSES:
            raise ProtocolError(100, "hello.class_count", "%d is more than %d" % (class_count, MAX_CLASSES))
        if len(packet) != HELLO_FIXED_LEN + CLASS_NAME_LEN * class_count:
            raise ProtocolError(100, "hello.class_count", "length mismatch")
        model = text(packet, 16, MODEL_NAME_LEN, "hello.model_name")
        names = [text(packet, HELLO_FIXED_LEN + CLASS_NAME_LEN * i, CLASS_NAME_LEN, "hello.class_names")
                 for i in range(class_count)]
        return "hello", dict(version=version, model=model, input=(in_w, in_h), source=(src_w, src_h),
                             max_detections=max_det, class_names=names)

    check_fits(packet, DETECTIONS_FIELDS)
    seq, capture_ns, publish_ns, src_w, src_h, dropped, count = DETECTIONS.unpack_from(packet, HEADER.size)
    if count > MAX_DETECTIONS:
        raise ProtocolError(52, "detections.count", "%d is more than %d" % (count, MAX_DETECTIONS))
    if len(packet) != DETECTIONS_FIXED_LEN + DETECTION.size * count:
        raise ProtocolError(52, "detections.count", "length mismatch")
    detections = []
    for i in range(count):
        at = DETECTIONS_FIXED_LEN + DETECTION.size * i
        cls, _, *floats = DETECTION.unpack_from(packet, at)
        for f, value in enumerate(floats):
            if not is_finite(value):
                raise ProtocolError(at + 4 + 4 * f, FLOATS[f], "non-finite value %r" % value)
        detections.append((cls, *floats))
    return "detections", dict(sequence=seq, capture_ns=capture_ns, publish_ns=publish_ns,
                              source=(src_w, src_h), dropped=dropped, detections=detections)


class Closed(Exception):
    pass


def receive(sock):
    while True:
        try:
            data, _, flags, _ = sock.recvmsg(MAX_MESSAGE_LEN)
        except InterruptedError:
            continue
        except ConnectionResetError:
            raise Closed()
        if flags & socket.MSG_TRUNC:
            raise ProtocolError(MAX_MESSAGE_LEN, "packet", "longer than any message (%d bytes)" % MAX_MESSAGE_LEN)
        if not data:
            raise Closed()
        return data


def watch(path, count):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
    except OSError as e:
        print("watch: cannot connect to %s: %s (is the edge-infer daemon running?)" % (path, e.strerror),
              file=sys.stderr)
        return 69
    try:
        kind, hello = decode(receive(sock))
        if kind != "hello":
            raise ProtocolError(6, "header.kind", "Detections before the Hello")
        names = hello["class_names"]
        print("hello version=%d model=%s input=%dx%d source=%dx%d max_detections=%d classes=%d"
              % (hello["version"], hello["model"], *hello["input"], *hello["source"],
                 hello["max_detections"], len(names)))
        for i, name in enumerate(names):
            print("class %d %s" % (i, name))
        sys.stdout.flush()
        seen = 0
        while count is None or seen < count:
            kind, msg = decode(receive(sock))
            if kind != "detections":
                raise ProtocolError(6, "header.kind", "a second Hello")
            dets = msg["detections"]
            if len(dets) > hello["max_detections"]:
                raise ProtocolError(52, "detections.count", "more detections than the Hello's max_detections")
            print("frame sequence=%d capture_ns=%d publish_ns=%d source=%dx%d dropped=%d count=%d"
                  % (msg["sequence"], msg["capture_ns"], msg["publish_ns"], *msg["source"], msg["dropped"],
                     len(dets)))
            for i, (cls, score, x1, y1, x2, y2) in enumerate(dets):
                if cls >= len(names):
                    raise ProtocolError(DETECTIONS_FIXED_LEN + DETECTION.size * i, "detection.class",
                                        "class out of range of the Hello's classes")
                print("  %d %s score=%.3f box=(%.1f,%.1f)-(%.1f,%.1f)" % (cls, names[cls], score, x1, y1, x2, y2))
            sys.stdout.flush()
            seen += 1
    except ProtocolError as e:
        print("watch: protocol error %s" % e, file=sys.stderr)
        return 65
    except Closed:
        print("watch: the daemon closed the connection", file=sys.stderr)
        return 69
    except OSError as e:
        print("watch: receiving from the daemon failed: %s" % e, file=sys.stderr)
        return 74
    finally:
        sock.close()
    return 0


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and not argv[2].isdigit()):
        print("usage: watch.py SOCKET [COUNT]", file=sys.stderr)
        return 64
    return watch(argv[1], int(argv[2]) if len(argv) == 3 else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
