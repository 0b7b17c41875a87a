/* test_inspect_inputs.c: the images an inspect run covers and their heatmap names, on folders made
 * here: masks/ folders left out of a walk, missing paths kept for rejection, names after the path
 * below the argument, safe, and never the same for two different images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect/inspect_inputs.h"
#include "moecore/sha256.h"

static char root[64];

/* Creates root/rel, and the folders on its way. */
static void touch(const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0777);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
}

static void collect(fab_inspect_inputs *in, int n, const char *const *rel) {
    char buf[8][512], *args[8];
    assert_true(n <= 8);
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "%s/%s", root, rel[i]);
        args[i] = buf[i];
    }
    mc_error err;
    assert_int_equal(fab_inspect_inputs_collect(in, args, n, &err), MC_OK);
}

/* The heatmap name of the input whose path ends with tail. */
static const char *heatmap_of(const fab_inspect_inputs *in, const char *tail) {
    for (int i = 0; i < in->n; i++) {
        size_t a = strlen(in->path[i]), b = strlen(tail);
        if (a >= b && strcmp(in->path[i] + a - b, tail) == 0) return in->heatmap[i];
    }
    fail_msg("no input ends with %s", tail);
    return NULL;
}

/* stem "-" the first 16 hex digits of SHA-256(hashed) ".png", as mc_safe_name appends them. */
static void hashed_name(char *out, size_t size, const char *stem, const char *hashed) {
    char hex[MC_SHA256_HEX];
    mc_sha256_hex((const uint8_t *)hashed, strlen(hashed), hex);
    snprintf(out, size, "%s-%.16s.png", stem, hex);
}

static void assert_all_distinct(const fab_inspect_inputs *in) {
    for (int i = 0; i < in->n; i++)
        for (int j = i + 1; j < in->n; j++) assert_string_not_equal(in->heatmap[i], in->heatmap[j]);
}

static void test_folder_names(void **state) {
    (void)state;
    touch("line/class01/good/0000.png");
    touch("line/class01/good/0001.PNG");
    touch("line/class01/good/notes.txt");
    touch("line/class01/defect/0000.png");
    touch("line/class01/masks/0000.png");
    touch("line/class01/defect/masks/0007.png");
    touch("line/class01/.hidden/0000.png");
    fab_inspect_inputs in;
    collect(&in, 1, (const char *const[]){"line/class01"});
    assert_int_equal(in.n, 3); /* the masks, the hidden folder and the text file left out */
    assert_non_null(strstr(in.path[0], "line/class01/defect/0000.png"));
    char want[64];
    hashed_name(want, sizeof want, "class01_good_0000", "class01/good/0000");
    assert_string_equal(heatmap_of(&in, "good/0000.png"), want);
    hashed_name(want, sizeof want, "class01_good_0001", "class01/good/0001");
    assert_string_equal(heatmap_of(&in, "good/0001.PNG"), want);
    assert_all_distinct(&in);
    fab_inspect_inputs_free(&in);

    /* a masks folder given itself is inspected */
    collect(&in, 1, (const char *const[]){"line/class01/masks"});
    assert_int_equal(in.n, 1);
    hashed_name(want, sizeof want, "masks_0000", "masks/0000");
    assert_string_equal(in.heatmap[0], want);
    fab_inspect_inputs_free(&in);
}

static void test_file_names(void **state) {
    (void)state;
    touch("files/a.png");
    touch("files/.dot.png");
    touch("files/b c.png");
    fab_inspect_inputs in;
    collect(&in, 3, (const char *const[]){"files/a.png", "files/.dot.png", "files/b c.png"});
    assert_int_equal(in.n, 3);
    assert_string_equal(in.heatmap[0], "a.png");
    char want[64];
    hashed_name(want, sizeof want, "_dot", ".dot");
    assert_string_equal(in.heatmap[1], want);
    hashed_name(want, sizeof want, "b_c", "b c");
    assert_string_equal(in.heatmap[2], want);
    fab_inspect_inputs_free(&in);

    /* a relative path through ../ gives no dot-file and no folder: the argument's own name */
    char cwd[512], arg[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(root), 0);
    snprintf(arg, sizeof arg, "../%s/line/class01/good", strrchr(root, '/') + 1);
    char *args[1] = {arg};
    mc_error err;
    assert_int_equal(fab_inspect_inputs_collect(&in, args, 1, &err), MC_OK);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(in.n, 2);
    hashed_name(want, sizeof want, "good_0000", "good/0000");
    assert_string_equal(in.heatmap[0], want);
    fab_inspect_inputs_free(&in);
}

static void test_collisions(void **state) {
    (void)state;
    /* a/b_c.png and a_b/c.png: '/' and '_' once gave the same name */
    touch("mix/a/b_c.png");
    touch("mix/a_b/c.png");
    /* two folders of the same name on two lines, the same file names inside */
    touch("l1/good/0000.png");
    touch("l2/good/0000.png");
    /* two files of one base name, given directly */
    touch("p/x.png");
    touch("q/x.png");
    /* x.png and x.PNG in one folder: the same name without ".png", no folder left to tell them apart
     * below the argument, and the same folders above it */
    touch("case/x.png");
    touch("case/x.PNG");
    fab_inspect_inputs in;
    collect(&in, 8, (const char *const[]){"mix", "l1/good", "l2/good", "p/x.png", "q/x.png", "case/x.png", "case/x.PNG",
                                          "p/x.png"});
    assert_int_equal(in.n, 9);
    char want[64];
    hashed_name(want, sizeof want, "mix_a_b_c", "mix/a/b_c");
    assert_string_equal(heatmap_of(&in, "mix/a/b_c.png"), want);
    hashed_name(want, sizeof want, "mix_a_b_c", "mix/a_b/c");
    assert_string_equal(heatmap_of(&in, "mix/a_b/c.png"), want);
    hashed_name(want, sizeof want, "l1_good_0000", "l1/good/0000");
    assert_string_equal(heatmap_of(&in, "l1/good/0000.png"), want);
    hashed_name(want, sizeof want, "l2_good_0000", "l2/good/0000");
    assert_string_equal(heatmap_of(&in, "l2/good/0000.png"), want);
    hashed_name(want, sizeof want, "q_x", "q/x");
    assert_string_equal(heatmap_of(&in, "q/x.png"), want);
    /* the same file given twice is one image: one heatmap */
    assert_string_equal(in.heatmap[4], in.heatmap[8]);
    hashed_name(want, sizeof want, "p_x", "p/x");
    assert_string_equal(in.heatmap[4], want);
    /* the two in one folder: a hash of each one's absolute path after the longest name */
    const char *lower = heatmap_of(&in, "case/x.png"), *upper = heatmap_of(&in, "case/x.PNG");
    assert_string_not_equal(lower, upper);
    char path[512];
    snprintf(path, sizeof path, "%s/case/x.png", root);
    assert_true(strncmp(lower, "tmp_", 4) == 0);
    size_t n = strlen(lower);
    assert_true(n > 30 && strcmp(lower + n - 4, ".png") == 0 && lower[n - 13] == '-' && lower[n - 30] == '-');
    char hex[MC_SHA256_HEX];
    mc_sha256_hex((const uint8_t *)path, strlen(path), hex);
    assert_memory_equal(lower + n - 12, hex, 8);
    /* and none of the others shares a name */
    for (int i = 0; i < in.n; i++)
        for (int j = i + 1; j < in.n; j++)
            if (i != 4 || j != 8) assert_string_not_equal(in.heatmap[i], in.heatmap[j]);
    fab_inspect_inputs_free(&in);
}

static void test_missing_kept(void **state) {
    (void)state;
    touch("m/good.png");
    fab_inspect_inputs in;
    collect(&in, 3, (const char *const[]){"m/none.png", "m/good.png", "m/no_folder"});
    assert_int_equal(in.n, 3);
    assert_non_null(strstr(in.path[0], "m/none.png"));
    assert_non_null(strstr(in.path[2], "m/no_folder"));
    assert_string_equal(in.heatmap[0], "");
    assert_string_equal(in.heatmap[1], "good.png");
    assert_string_equal(in.heatmap[2], "");
    fab_inspect_inputs_free(&in);
    /* a missing path takes no part in naming the others */
    collect(&in, 2, (const char *const[]){"q/good.png", "m/good.png"});
    assert_string_equal(in.heatmap[0], "");
    assert_string_equal(in.heatmap[1], "good.png");
    fab_inspect_inputs_free(&in);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/fab_inputs_XXXXXX");
    if (!mkdtemp(root)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_names),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_missing_kept),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) return 1;
    return rc;
}
