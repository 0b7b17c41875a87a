/* replay_main.c: the main() of a fuzz harness built without libFuzzer (gcc, the ordinary build):
 * calls the harness's LLVMFuzzerTestOneInput once on each file given and on each file in the
 * folders given (in name order, hidden files left out), each in a buffer of exactly its size so
 * that the sanitizers see any read past its end. Fails when a path cannot be read or when there was
 * no input at all. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    int ok = data && fread(data, 1, size, f) == size;
    fclose(f);
    if (!ok) {
        free(data);
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

static int visible(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Replays path (a file, or the files of a folder); adds the inputs replayed to *n. */
static int replay_path(const char *path, int *n) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no such file or folder: %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (replay_file(path) != 0) return -1;
        (*n)++;
        return 0;
    }
    struct dirent **names;
    int count = scandir(path, &names, visible, alphasort);
    if (count < 0) {
        fprintf(stderr, "replay: cannot list %s\n", path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < count; i++) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
        if (rc == 0 && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(file) != 0) rc = -1;
            else (*n)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv) {
    int n = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &n) != 0) return 1;
    if (n == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    printf("replayed %d inputs\n", n);
    return 0;
}
