/*
 * watch: print the edge-infer daemon's Hello and the next COUNT Detections messages
 * (all of them without COUNT). Same output as examples/watch.rs and examples/python/watch.py.
 *
 *     cc -std=c11 -Wall -Wextra -O2 -I protocol/include protocol/examples/c/watch.c -o watch
 *     ./watch /run/edge-infer/detections.sock 10
 *
 * Exit status (sysexits): 0 done, 64 usage, 65 bad data from the daemon, 69 daemon unavailable
 * or gone, 74 I/O error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "edge_infer.h"

enum { EX_OK_ = 0, EX_USAGE_ = 64, EX_DATAERR_ = 65, EX_UNAVAILABLE_ = 69, EX_IOERR_ = 74 };

/* The Hello stays in its own buffer: its class names are needed for every message. */
static unsigned char hello_packet[EDGI_MAX_MESSAGE_LEN];
static unsigned char packet[EDGI_MAX_MESSAGE_LEN];

/* Receives one packet; returns its length, or exits with a message. */
static size_t receive(int fd, unsigned char *buf) {
    ssize_t n;
    do {
        /* MSG_TRUNC: Linux returns the real length of a packet longer than the buffer. */
        n = recv(fd, buf, EDGI_MAX_MESSAGE_LEN, MSG_TRUNC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == ECONNRESET) {
            fprintf(stderr, "watch: the daemon closed the connection\n");
            exit(EX_UNAVAILABLE_);
        }
        fprintf(stderr, "watch: receiving from the daemon failed: %s\n", strerror(errno));
        exit(EX_IOERR_);
    }
    if (n == 0) {
        fprintf(stderr, "watch: the daemon closed the connection\n");
        exit(EX_UNAVAILABLE_);
    }
    if ((size_t)n > EDGI_MAX_MESSAGE_LEN) {
        fprintf(stderr, "watch: protocol error: a %zd-byte packet, longer than any message (%d bytes)\n",
                n, (int)EDGI_MAX_MESSAGE_LEN);
        exit(EX_DATAERR_);
    }
    return (size_t)n;
}

static void protocol_error(size_t offset, const char *field, const char *what) {
    fprintf(stderr, "watch: protocol error at byte %zu (%s): %s\n", offset, field, what);
    exit(EX_DATAERR_);
}

static void decode_or_exit(const unsigned char *buf, size_t len, edgi_message *msg) {
    edgi_error err;
    if (edgi_decode(buf, len, msg, &err) != EDGI_OK) protocol_error(err.offset, err.field, edgi_status_str(err.status));
}

int main(int argc, char **argv) {
    struct sockaddr_un addr;
    edgi_message hello, msg;
    char name[EDGI_CLASS_NAME_LEN + 1];
    char model[EDGI_MODEL_NAME_LEN + 1];
    unsigned long long count = 0, seen;
    int fd;
    uint32_t i;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: watch SOCKET [COUNT]\n");
        return EX_USAGE_;
    }
    if (argc == 3) {
        char *end;
        errno = 0;
        count = strtoull(argv[2], &end, 10);
        if (errno || *end || end == argv[2]) {
            fprintf(stderr, "usage: watch SOCKET [COUNT]\n");
            return EX_USAGE_;
        }
    }

    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "watch: socket path too long: %s\n", argv[1]);
        return EX_USAGE_;
    }
    strcpy(addr.sun_path, argv[1]);
    fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "watch: cannot connect to %s: %s (is the edge-infer daemon running?)\n", argv[1],
                strerror(errno));
        return EX_UNAVAILABLE_;
    }

    decode_or_exit(hello_packet, receive(fd, hello_packet), &hello);
    if (hello.kind != EDGI_KIND_HELLO) protocol_error(6, "header.kind", "Detections before the Hello");
    edgi_copy_text(hello.hello.model_name, EDGI_MODEL_NAME_LEN, model);
    printf("hello version=%u model=%s input=%ux%u source=%ux%u max_detections=%u classes=%u\n",
           (unsigned)hello.hello.header.version, model, (unsigned)hello.hello.input_width,
           (unsigned)hello.hello.input_height, (unsigned)hello.hello.source_width,
           (unsigned)hello.hello.source_height, (unsigned)hello.hello.max_detections,
           (unsigned)hello.hello.class_count);
    for (i = 0; i < hello.hello.class_count; i++) {
        edgi_class_name(&hello, i, name);
        printf("class %u %s\n", (unsigned)i, name);
    }
    fflush(stdout);

    for (seen = 0; argc < 3 || seen < count; seen++) {
        const edgi_detections *d = &msg.detections;
        decode_or_exit(packet, receive(fd, packet), &msg);
        if (msg.kind != EDGI_KIND_DETECTIONS) protocol_error(6, "header.kind", "a second Hello");
        if (d->count > hello.hello.max_detections)
            protocol_error(52, "detections.count", "more detections than the Hello's max_detections");
        printf("frame sequence=%llu capture_ns=%llu publish_ns=%llu source=%ux%u dropped=%u count=%u\n",
               (unsigned long long)d->sequence, (unsigned long long)d->capture_ns,
               (unsigned long long)d->publish_ns, (unsigned)d->source_width, (unsigned)d->source_height,
               (unsigned)d->dropped_since_last, (unsigned)d->count);
        for (i = 0; i < d->count; i++) {
            edgi_detection det = edgi_detection_at(&msg, i);
            if (det.class_id >= hello.hello.class_count)
                protocol_error(EDGI_DETECTIONS_LEN(i), "detection.class", "class out of range of the Hello's classes");
            edgi_class_name(&hello, det.class_id, name);
            printf("  %u %s score=%.3f box=(%.1f,%.1f)-(%.1f,%.1f)\n", (unsigned)det.class_id, name,
                   (double)det.score, (double)det.x1, (double)det.y1, (double)det.x2, (double)det.y2);
        }
        fflush(stdout);
    }
    close(fd);
    return EX_OK_;
}
