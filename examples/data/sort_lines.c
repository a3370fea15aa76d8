/* Sorts the lines of a file bytewise and writes them to stdout (at most 4096 lines). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int main(int argc, char **argv) {
    static char *lines[4096];
    char buf[1024];
    size_t n = 0;
    FILE *f = argc > 1 ? fopen(argv[1], "r") : stdin;
    if (!f) return 1;
    while (n < 4096 && fgets(buf, sizeof buf, f)) lines[n++] = strdup(buf);
    qsort(lines, n, sizeof *lines, cmp);
    for (size_t i = 0; i < n; i++) fputs(lines[i], stdout);
    return 0;
}
