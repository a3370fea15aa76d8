/* Tries to write outside /outputs and to read outside the inputs; prints what happened. */
#include <dirent.h>
#include <stdio.h>

static void try_open(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    printf("%s %s %s\n", f ? "allowed" : "denied", mode, path);
    if (f) {
        if (mode[0] == 'w') fputs("written\n", f);
        fclose(f);
    }
}

int main(void) {
    try_open("/data/in.txt", "r");
    try_open("/data/in.txt", "w");
    try_open("/data/new.txt", "w");
    try_open("/etc/passwd", "r");
    try_open("/data/../../etc/passwd", "r");
    try_open("/outputs/../data/in.txt", "w");
    try_open("/outputs/../escaped.txt", "w");
    try_open("/tmp/x", "w");
    try_open("/outputs/ok.txt", "w");
    DIR *root = opendir("/");
    printf("%s opendir /\n", root ? "allowed" : "denied");
    return 0;
}
