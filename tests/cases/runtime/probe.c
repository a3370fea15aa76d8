/* Prints what a program can see of the machine it runs on: clocks, a sleep, random
 * bytes, a folder's listing and its files' metadata. Under jobc's runner every line is
 * the same on every run (tests/test_runtime.py). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void) {
    struct timespec real, res, before, after;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_getres(CLOCK_MONOTONIC, &res);
    printf("realtime %lld\n", (long long)real.tv_sec);
    printf("time %lld\n", (long long)time(NULL));
    printf("resolution %ld\n", res.tv_nsec);
    clock_gettime(CLOCK_MONOTONIC, &before);
    sleep(5);
    clock_gettime(CLOCK_MONOTONIC, &after);
    printf("slept %lld\n", ns(after) - ns(before));
    unsigned char bytes[16];
    getentropy(bytes, sizeof bytes);
    printf("random ");
    for (size_t i = 0; i < sizeof bytes; i++) printf("%02x", bytes[i]);
    printf("\n");
    DIR *dir = opendir("/data");
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "/data/%s", entry->d_name);
        stat(path, &st);
        printf("entry %s d_ino=%llu ino=%llu dev=%llu nlink=%llu size=%lld times=%lld,%lld,%lld\n",
               entry->d_name, (unsigned long long)entry->d_ino, (unsigned long long)st.st_ino,
               (unsigned long long)st.st_dev, (unsigned long long)st.st_nlink,
               (long long)st.st_size, (long long)st.st_atim.tv_sec,
               (long long)st.st_mtim.tv_sec, (long long)st.st_ctim.tv_sec);
    }
    closedir(dir);
    return 0;
}
