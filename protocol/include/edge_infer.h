/*
 * edge_infer.h: the edge-infer detection socket protocol, version 1, for C and C++ clients.
 * protocol/PROTOCOL.md is the specification; this header mirrors it.
 *
 * One message per SOCK_SEQPACKET packet: recv() into a buffer of EDGI_MAX_MESSAGE_LEN bytes,
 * then edgi_decode() it. The structs below are the wire layouts (packed, little-endian, offsets
 * from the start of the packet); edgi_decode() copies the fixed parts out of the packet, so the
 * packet needs no particular alignment. Clients send nothing: the daemon closes a client that
 * writes to the socket.
 *
 * Header-only, no allocation; C11 or later, or C++11 or later; little-endian hosts only.
 */
#ifndef EDGE_INFER_H
#define EDGE_INFER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "edge_infer.h maps the little-endian wire format onto structs: big-endian hosts are not supported"
#endif

#if defined(__cplusplus)
#define EDGI_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define EDGI_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define EDGI_MAGIC "EDGI" /* the first 4 bytes; no terminator on the wire */
#define EDGI_VERSION 1
#define EDGI_KIND_HELLO 1
#define EDGI_KIND_DETECTIONS 2

#define EDGI_HEADER_LEN 16
#define EDGI_MODEL_NAME_LEN 64
#define EDGI_CLASS_NAME_LEN 32
#define EDGI_MAX_CLASSES 1024
#define EDGI_MAX_DETECTIONS 256
#define EDGI_DETECTION_LEN 24
#define EDGI_HELLO_FIXED_LEN 104      /* header + Hello fields before the class names */
#define EDGI_DETECTIONS_FIXED_LEN 56  /* header + Detections fields before the records */
#define EDGI_HELLO_LEN(class_count) (EDGI_HELLO_FIXED_LEN + EDGI_CLASS_NAME_LEN * (size_t)(class_count))
#define EDGI_DETECTIONS_LEN(count) (EDGI_DETECTIONS_FIXED_LEN + EDGI_DETECTION_LEN * (size_t)(count))
#define EDGI_MAX_HELLO_LEN EDGI_HELLO_LEN(EDGI_MAX_CLASSES)          /* 32872 */
#define EDGI_MAX_DETECTIONS_LEN EDGI_DETECTIONS_LEN(EDGI_MAX_DETECTIONS) /* 6200 */
#define EDGI_MAX_MESSAGE_LEN EDGI_MAX_HELLO_LEN /* a buffer this long holds any message */

#pragma pack(push, 1)

/* Every message starts with this. */
typedef struct edgi_header {
    uint8_t magic[4];        /* 'E' 'D' 'G' 'I' */
    uint16_t version;        /* EDGI_VERSION */
    uint16_t kind;           /* EDGI_KIND_HELLO or EDGI_KIND_DETECTIONS */
    uint32_t payload_length; /* packet length - EDGI_HEADER_LEN */
    uint32_t reserved;       /* 0; ignored by readers */
} edgi_header;

/* Hello: daemon -> client, once, first. class_count records of EDGI_CLASS_NAME_LEN bytes follow. */
typedef struct edgi_hello {
    edgi_header header;
    char model_name[EDGI_MODEL_NAME_LEN]; /* UTF-8, zero-padded; not terminated when full */
    uint32_t input_width;                 /* network input, pixels */
    uint32_t input_height;
    uint32_t source_width;                /* camera frame, pixels */
    uint32_t source_height;
    uint32_t max_detections;              /* <= EDGI_MAX_DETECTIONS */
    uint32_t class_count;                 /* <= EDGI_MAX_CLASSES */
} edgi_hello;

/* Detections: daemon -> client, one per published frame. count edgi_detection records follow. */
typedef struct edgi_detections {
    edgi_header header;
    uint64_t sequence;           /* capture sequence number of the frame */
    uint64_t capture_ns;         /* CLOCK_MONOTONIC ns, camera driver's capture time */
    uint64_t publish_ns;         /* CLOCK_MONOTONIC ns, when the daemon published this */
    uint32_t source_width;       /* frame the boxes refer to, pixels */
    uint32_t source_height;
    uint32_t dropped_since_last; /* messages for this client dropped since its previous one */
    uint32_t count;              /* <= EDGI_MAX_DETECTIONS and <= the Hello's max_detections */
} edgi_detections;

/* One detection. `class` on the wire; class_id here, as `class` is a C++ keyword. */
typedef struct edgi_detection {
    uint16_t class_id; /* index into the Hello's class names, < class_count */
    uint16_t reserved;
    float score;       /* finite */
    float x1, y1;      /* top-left corner, source pixels */
    float x2, y2;      /* bottom-right corner, source pixels */
} edgi_detection;

#pragma pack(pop)

EDGI_STATIC_ASSERT(sizeof(float) == 4, "float must be IEEE 754 binary32");
EDGI_STATIC_ASSERT(sizeof(edgi_header) == EDGI_HEADER_LEN, "header size");
EDGI_STATIC_ASSERT(offsetof(edgi_header, magic) == 0, "header.magic offset");
EDGI_STATIC_ASSERT(offsetof(edgi_header, version) == 4, "header.version offset");
EDGI_STATIC_ASSERT(offsetof(edgi_header, kind) == 6, "header.kind offset");
EDGI_STATIC_ASSERT(offsetof(edgi_header, payload_length) == 8, "header.payload_length offset");
EDGI_STATIC_ASSERT(offsetof(edgi_header, reserved) == 12, "header.reserved offset");

EDGI_STATIC_ASSERT(sizeof(edgi_hello) == EDGI_HELLO_FIXED_LEN, "hello size");
EDGI_STATIC_ASSERT(offsetof(edgi_hello, model_name) == 16, "hello.model_name offset");
EDGI_STATIC_ASSERT(offsetof(edgi_hello, input_width) == 80, "hello.input_width offset");
EDGI_STATIC_ASSERT(offsetof(edgi_hello, input_height) == 84, "hello.input_height offset");
EDGI_STATIC_ASSERT(offsetof(edgi_hello, source_width) == 88, "hello.source_width offset");
EDGI_STATIC_ASSERT(offsetof(edgi_hello, source_height) == 92, "hello.source_height offset");
EDGI_STATIC_ASSERT(offsetof(edgi_hello, max_detections) == 96, "hello.max_detections offset");
EDGI_STATIC_ASSERT(offsetof(edgi_hello, class_count) == 100, "hello.class_count offset");

EDGI_STATIC_ASSERT(sizeof(edgi_detections) == EDGI_DETECTIONS_FIXED_LEN, "detections size");
EDGI_STATIC_ASSERT(offsetof(edgi_detections, sequence) == 16, "detections.sequence offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detections, capture_ns) == 24, "detections.capture_ns offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detections, publish_ns) == 32, "detections.publish_ns offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detections, source_width) == 40, "detections.source_width offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detections, source_height) == 44, "detections.source_height offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detections, dropped_since_last) == 48, "detections.dropped_since_last offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detections, count) == 52, "detections.count offset");

EDGI_STATIC_ASSERT(sizeof(edgi_detection) == EDGI_DETECTION_LEN, "detection size");
EDGI_STATIC_ASSERT(offsetof(edgi_detection, class_id) == 0, "detection.class offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detection, reserved) == 2, "detection.reserved offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detection, score) == 4, "detection.score offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detection, x1) == 8, "detection.x1 offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detection, y1) == 12, "detection.y1 offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detection, x2) == 16, "detection.x2 offset");
EDGI_STATIC_ASSERT(offsetof(edgi_detection, y2) == 20, "detection.y2 offset");

/* ------------------------------------------------------------------------------------------ */
/* Decoder: the checks of PROTOCOL.md's "Validation", in its order. */

typedef enum edgi_status {
    EDGI_OK = 0,
    EDGI_TRUNCATED,           /* the packet ends inside the field */
    EDGI_BAD_MAGIC,           /* not "EDGI" */
    EDGI_UNSUPPORTED_VERSION, /* not EDGI_VERSION */
    EDGI_UNKNOWN_KIND,        /* neither Hello nor Detections */
    EDGI_LENGTH_MISMATCH,     /* payload_length disagrees with the packet or its counts */
    EDGI_TOO_MANY,            /* a count above its maximum */
    EDGI_NON_FINITE,          /* a NaN or infinite score or box corner */
    EDGI_INVALID_UTF8         /* a model or class name that is not UTF-8 */
} edgi_status;

typedef struct edgi_error {
    edgi_status status;
    size_t offset;     /* byte offset in the packet */
    const char *field; /* as PROTOCOL.md names it, e.g. "detections.count" */
} edgi_error;

/* A decoded message. The fixed part is copied; names and records stay in the packet. */
typedef struct edgi_message {
    uint16_t kind;              /* EDGI_KIND_HELLO or EDGI_KIND_DETECTIONS */
    edgi_hello hello;           /* kind == EDGI_KIND_HELLO */
    edgi_detections detections; /* kind == EDGI_KIND_DETECTIONS */
    const unsigned char *items; /* Hello: class_count names; Detections: count records */
} edgi_message;

static inline const char *edgi_status_str(edgi_status s) {
    switch (s) {
    case EDGI_OK: return "ok";
    case EDGI_TRUNCATED: return "truncated";
    case EDGI_BAD_MAGIC: return "wrong magic (not an edge-infer message)";
    case EDGI_UNSUPPORTED_VERSION: return "unsupported protocol version";
    case EDGI_UNKNOWN_KIND: return "unknown message kind";
    case EDGI_LENGTH_MISMATCH: return "length mismatch";
    case EDGI_TOO_MANY: return "count above its maximum";
    case EDGI_NON_FINITE: return "non-finite value";
    case EDGI_INVALID_UTF8: return "invalid UTF-8";
    }
    return "unknown error";
}

static inline edgi_status edgi__fail(edgi_error *err, edgi_status s, size_t offset, const char *field) {
    if (err) {
        err->status = s;
        err->offset = offset;
        err->field = field;
    }
    return s;
}

/* Length of the text in a zero-padded field: bytes before the first zero. */
static inline size_t edgi_text_len(const void *field, size_t field_len) {
    const unsigned char *p = (const unsigned char *)field;
    size_t n = 0;
    while (n < field_len && p[n] != 0) n++;
    return n;
}

/* Index of the first byte of the first invalid UTF-8 sequence in s[0..n), or n if valid. */
static inline size_t edgi_utf8_valid_up_to(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len, k;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1Fu; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0Fu; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07u; min = 0x10000; }
        else return i;
        if (n - i < len) return i;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return n;
}

static inline int edgi__check_text(const unsigned char *field, size_t field_len, size_t offset,
                                   const char *name, edgi_error *err) {
    size_t n = edgi_text_len(field, field_len);
    size_t ok = edgi_utf8_valid_up_to(field, n);
    if (ok != n) {
        edgi__fail(err, EDGI_INVALID_UTF8, offset + ok, name);
        return 0;
    }
    return 1;
}

static inline int edgi__is_finite(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    return (bits & 0x7F800000u) != 0x7F800000u; /* exponent all ones: infinity or NaN */
}

typedef struct edgi__field {
    size_t offset, size;
    const char *name;
} edgi__field;

/* The first field of a fixed layout that does not fit in len bytes. */
static inline edgi_status edgi__truncated(const edgi__field *fields, size_t n, size_t len, edgi_error *err) {
    size_t i;
    for (i = 0; i < n; i++)
        if (fields[i].offset + fields[i].size > len)
            return edgi__fail(err, EDGI_TRUNCATED, fields[i].offset, fields[i].name);
    return EDGI_OK;
}

/* Decodes one packet of len bytes into *msg (which points into the packet afterwards).
 * Returns EDGI_OK, or an error status with *err (if not NULL) saying where. */
static inline edgi_status edgi_decode(const void *packet, size_t len, edgi_message *msg, edgi_error *err) {
    static const edgi__field header_fields[] = {
        {0, 4, "header.magic"}, {4, 2, "header.version"}, {6, 2, "header.kind"},
        {8, 4, "header.payload_length"}, {12, 4, "header.reserved"}};
    static const edgi__field hello_fields[] = {
        {16, 64, "hello.model_name"}, {80, 4, "hello.input_width"}, {84, 4, "hello.input_height"},
        {88, 4, "hello.source_width"}, {92, 4, "hello.source_height"},
        {96, 4, "hello.max_detections"}, {100, 4, "hello.class_count"}};
    static const edgi__field detections_fields[] = {
        {16, 8, "detections.sequence"}, {24, 8, "detections.capture_ns"},
        {32, 8, "detections.publish_ns"}, {40, 4, "detections.source_width"},
        {44, 4, "detections.source_height"}, {48, 4, "detections.dropped_since_last"},
        {52, 4, "detections.count"}};
    const unsigned char *p = (const unsigned char *)packet;
    edgi_header header;
    edgi_status s;
    uint16_t version, kind;
    uint32_t i;

    memset(msg, 0, sizeof *msg);
    if ((s = edgi__truncated(header_fields, 1, len, err)) != EDGI_OK) return s;
    if (memcmp(p, EDGI_MAGIC, 4) != 0) return edgi__fail(err, EDGI_BAD_MAGIC, 0, "header.magic");
    if ((s = edgi__truncated(header_fields, 2, len, err)) != EDGI_OK) return s;
    memcpy(&version, p + 4, 2);
    if (version != EDGI_VERSION) return edgi__fail(err, EDGI_UNSUPPORTED_VERSION, 4, "header.version");
    if ((s = edgi__truncated(header_fields, 3, len, err)) != EDGI_OK) return s;
    memcpy(&kind, p + 6, 2);
    if (kind != EDGI_KIND_HELLO && kind != EDGI_KIND_DETECTIONS)
        return edgi__fail(err, EDGI_UNKNOWN_KIND, 6, "header.kind");
    if ((s = edgi__truncated(header_fields, 5, len, err)) != EDGI_OK) return s;
    msg->kind = kind;
    memcpy(&header, p, sizeof header);
    if (header.payload_length != len - EDGI_HEADER_LEN)
        return edgi__fail(err, EDGI_LENGTH_MISMATCH, 8, "header.payload_length");

    if (kind == EDGI_KIND_HELLO) {
        edgi_hello *h = &msg->hello;
        if ((s = edgi__truncated(hello_fields, 7, len, err)) != EDGI_OK) return s;
        memcpy(h, p, sizeof *h);
        if (h->max_detections > EDGI_MAX_DETECTIONS)
            return edgi__fail(err, EDGI_TOO_MANY, 96, "hello.max_detections");
        if (h->class_count > EDGI_MAX_CLASSES)
            return edgi__fail(err, EDGI_TOO_MANY, 100, "hello.class_count");
        if (len != EDGI_HELLO_LEN(h->class_count))
            return edgi__fail(err, EDGI_LENGTH_MISMATCH, 100, "hello.class_count");
        if (!edgi__check_text(p + 16, EDGI_MODEL_NAME_LEN, 16, "hello.model_name", err))
            return EDGI_INVALID_UTF8;
        msg->items = p + EDGI_HELLO_FIXED_LEN;
        for (i = 0; i < h->class_count; i++) {
            size_t at = EDGI_HELLO_FIXED_LEN + (size_t)i * EDGI_CLASS_NAME_LEN;
            if (!edgi__check_text(p + at, EDGI_CLASS_NAME_LEN, at, "hello.class_names", err))
                return EDGI_INVALID_UTF8;
        }
    } else {
        edgi_detections *d = &msg->detections;
        static const char *const floats[] = {"detection.score", "detection.x1", "detection.y1",
                                             "detection.x2", "detection.y2"};
        if ((s = edgi__truncated(detections_fields, 7, len, err)) != EDGI_OK) return s;
        memcpy(d, p, sizeof *d);
        if (d->count > EDGI_MAX_DETECTIONS)
            return edgi__fail(err, EDGI_TOO_MANY, 52, "detections.count");
        if (len != EDGI_DETECTIONS_LEN(d->count))
            return edgi__fail(err, EDGI_LENGTH_MISMATCH, 52, "detections.count");
        msg->items = p + EDGI_DETECTIONS_FIXED_LEN;
        for (i = 0; i < d->count; i++) {
            size_t at = EDGI_DETECTIONS_FIXED_LEN + (size_t)i * EDGI_DETECTION_LEN;
            size_t f;
            for (f = 0; f < 5; f++) {
                float v;
                memcpy(&v, p + at + 4 + 4 * f, 4);
                if (!edgi__is_finite(v)) return edgi__fail(err, EDGI_NON_FINITE, at + 4 + 4 * f, floats[f]);
            }
        }
    }
    return EDGI_OK;
}

/* Detection i (< detections.count) of a decoded Detections message. */
static inline edgi_detection edgi_detection_at(const edgi_message *msg, uint32_t i) {
    edgi_detection d;
    memcpy(&d, msg->items + (size_t)i * EDGI_DETECTION_LEN, sizeof d);
    return d;
}

/* Copies the text of a zero-padded field into out (field_len + 1 bytes), zero-terminated;
 * returns its length. */
static inline size_t edgi_copy_text(const void *field, size_t field_len, char *out) {
    size_t n = edgi_text_len(field, field_len);
    memcpy(out, field, n);
    out[n] = '\0';
    return n;
}

/* Class i's (< hello.class_count) name of a decoded Hello, zero-terminated into out. */
static inline size_t edgi_class_name(const edgi_message *msg, uint32_t i, char out[EDGI_CLASS_NAME_LEN + 1]) {
    return edgi_copy_text(msg->items + (size_t)i * EDGI_CLASS_NAME_LEN, EDGI_CLASS_NAME_LEN, out);
}

#endif /* EDGE_INFER_H */
