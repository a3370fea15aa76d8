/* Adler-32 checksum of a file (or stdin), printed as 8 hex digits. */
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv) {
    FILE *f = argc > 1 ? fopen(argv[1], "rb") : stdin;
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    uint32_t a = 1, b = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        a = (a + (uint32_t)c) % 65521;
        b = (b + a) % 65521;
    }
    printf("%08x\n", (b << 16) | a);
    return 0;
}
