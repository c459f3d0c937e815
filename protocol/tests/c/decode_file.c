/*
 * Test harness: decodes every packet of a file with edge_infer.h's edgi_decode and prints one
 * line per packet, "ok KIND" or "err OFFSET FIELD", for comparison with the Rust decoder.
 * The file is a sequence of records: u32 little-endian length, then that many bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "edge_infer.h"

int main(int argc, char **argv) {
    static unsigned char packet[1 << 20];
    unsigned char len_bytes[4];
    FILE *f;

    if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: decode_file FILE\n");
        return 64;
    }
    while (fread(len_bytes, 1, 4, f) == 4) {
        edgi_message msg;
        edgi_error err;
        size_t len = (size_t)len_bytes[0] | (size_t)len_bytes[1] << 8 | (size_t)len_bytes[2] << 16 |
                     (size_t)len_bytes[3] << 24;
        if (len > sizeof packet || fread(packet, 1, len, f) != len) {
            fprintf(stderr, "decode_file: bad record\n");
            return 65;
        }
        if (edgi_decode(packet, len, &msg, &err) == EDGI_OK)
            printf("ok %u\n", (unsigned)msg.kind);
        else
            printf("err %zu %s\n", err.offset, err.field);
    }
    fclose(f);
    return 0;
}
