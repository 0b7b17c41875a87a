/* test_clinical.c: the facts moe-medical reads from free-text notes (smoking status, pack-years,
 * family and personal history of lung cancer, emphysema, age, sex; negation) over a table of notes,
 * and the clinical CSV: its columns winning over the note, the note filling the gaps, bad cells. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "risk/clinical.h"

#define U MED_UNKNOWN
#define NEVER MED_SMOKING_NEVER
#define FORMER MED_SMOKING_FORMER
#define CURRENT MED_SMOKING_CURRENT
#define SMOKE_UNK MED_SMOKING_UNKNOWN

static const struct {
    const char *note;
    med_smoking smoking;
    double pack_years; /* NAN: none stated */
    int family, personal, emphysema;
} NOTES[] = {
    {"Current smoker, 1 ppd.", CURRENT, NAN, U, U, U},
    {"Patient smokes 20 cigarettes a day.", CURRENT, NAN, U, U, U},
    {"Denies smoking.", NEVER, 0, U, U, U},
    {"Never smoker. No family history of lung cancer.", NEVER, 0, 0, U, U},
    {"Lifelong non-smoker.", NEVER, 0, U, U, U},
    {"Nonsmoker; mother had lung cancer.", NEVER, 0, 1, U, U},
    {"Former smoker, 30 pack-years, quit in 2015.", FORMER, 30, U, U, U},
    {"Ex-smoker (40 pk-yr).", FORMER, 40, U, U, U},
    {"Smoked 1 pack per day for 25 years. Quit 5 years ago.", FORMER, 25, U, U, U},
    {"He quit smoking in 2010 after 2 ppd x 20 years.", FORMER, 40, U, U, U},
    {"No longer smokes.", FORMER, NAN, U, U, U},
    {"Current smoker, trying to quit. 45 pack years.", CURRENT, 45, U, U, U},
    {"Smoking history: 35 pack-years, still smoking.", CURRENT, 35, U, U, U},
    {"Pack-years: 12.5. Currently smokes.", CURRENT, 12.5, U, U, U},
    {"Family history of lung cancer (father).", SMOKE_UNK, NAN, 1, U, U},
    {"FH: brother with lung ca.", SMOKE_UNK, NAN, 1, U, U},
    {"Family history negative for lung cancer.", SMOKE_UNK, NAN, 0, U, U},
    {"Denies family history of cancer.", SMOKE_UNK, NAN, 0, U, U},
    {"Mother had breast cancer.", SMOKE_UNK, NAN, U, U, U},
    {"History of lung cancer, s/p right upper lobectomy 2018.", SMOKE_UNK, NAN, U, 1, U},
    {"No prior history of lung cancer. Sister with lung cancer.", SMOKE_UNK, NAN, 1, 0, U},
    {"Referred for lung cancer screening.", SMOKE_UNK, NAN, U, U, U},
    {"Moderate centrilobular emphysema.", SMOKE_UNK, NAN, U, U, 1},
    {"No emphysema. Lungs otherwise clear.", SMOKE_UNK, NAN, U, U, 0},
    {"Emphysema: none.", SMOKE_UNK, NAN, U, U, 0},
    {"Emphysema: no. Family history of lung cancer: denied.", SMOKE_UNK, NAN, 0, U, 0},
    {"Lung cancer in father, no emphysema.", SMOKE_UNK, NAN, 1, U, 0},
    {"Denies tobacco use but reports emphysema.", NEVER, 0, U, U, 1},
    {"Quit drinking last year; smokes daily.", CURRENT, NAN, U, U, U},
    {"Former heavy smoker, no family history of lung cancer, mild emphysema.", FORMER, NAN, 0, U, 1},
    {"Smokes half a pack per day for 10 years.", CURRENT, 5, U, U, U},
    {"Non smoker. Father died of lung cancer at 70.", NEVER, 0, 1, U, U},
    {"No known lung cancer in the family.", SMOKE_UNK, NAN, 0, U, U},
    {"No history of smoking. Smoking history: none.", NEVER, 0, U, U, U},
    {"", SMOKE_UNK, NAN, U, U, U},
};

static void test_note_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof NOTES / sizeof NOTES[0]; i++) {
        med_note_facts f;
        med_note_extract(NOTES[i].note, &f);
        int py_ok = isnan(NOTES[i].pack_years) ? isnan(f.pack_years) : fabs(f.pack_years - NOTES[i].pack_years) < 1e-9;
        if (f.smoking != NOTES[i].smoking || !py_ok || f.family_history != NOTES[i].family ||
            f.personal_history != NOTES[i].personal || f.emphysema != NOTES[i].emphysema)
            fail_msg("\"%s\": smoking %s pack-years %g family %d personal %d emphysema %d", NOTES[i].note,
                     med_smoking_name(f.smoking), f.pack_years, f.family_history, f.personal_history, f.emphysema);
    }
}

static void test_age_sex(void **state) {
    (void)state;
    static const struct {
        const char *note;
        double age;
        med_sex sex;
    } cases[] = {
        {"67-year-old male with a nodule.", 67, MED_SEX_MALE},
        {"72 yo woman, former smoker.", 72, MED_SEX_FEMALE},
        {"58F referred by GP.", 58, MED_SEX_FEMALE},
        {"Age: 61. Sex: male.", 61, MED_SEX_MALE},
        {"Pleasant gentleman aged 80.", 80, MED_SEX_MALE},
        {"A 45 y/o lady.", 45, MED_SEX_FEMALE},
        {"The woman's husband smokes.", NAN, MED_SEX_FEMALE},
        {"Nodule 8 mm, 2 years stable.", NAN, MED_SEX_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        med_note_facts f;
        med_note_extract(cases[i].note, &f);
        int age_ok = isnan(cases[i].age) ? isnan(f.age) : f.age == cases[i].age;
        if (!age_ok || f.sex != cases[i].sex)
            fail_msg("\"%s\": age %g sex %s", cases[i].note, f.age, med_sex_name(f.sex));
    }
}

static const char *write_csv(const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/clinical-%ld.csv", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp",
             (long)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_csv(void **state) {
    (void)state;
    const char *p = write_csv(
        "seriesuid,age,sex,smoking,family_history,emphysema,note\n"
        "1.2.3,64,F,,,,\"64 yo female, former smoker (30 pack-years), sister with lung cancer, no emphysema\"\n"
        "1.2.4,,M,current,no,yes,\"Denies smoking. 70-year-old man. Mother had lung cancer.\"\n"
        "1.2.5,55,f,never,,,\n");
    med_clinical *r;
    int n;
    mc_error err = {0};
    if (med_clinical_read(p, &r, &n, &err) != MC_OK) fail_msg("%s", err.msg);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].id, "1.2.3");
    assert_true(r[0].id_is_series);
    assert_true(r[0].age == 64 && r[0].sex == MED_SEX_FEMALE);
    assert_int_equal(r[0].smoking, MED_SMOKING_FORMER);
    assert_true(r[0].pack_years == 30);
    assert_int_equal(r[0].family_history, 1);
    assert_int_equal(r[0].emphysema, 0);
    assert_int_equal(r[0].from_note, MED_FROM_NOTE_SMOKING | MED_FROM_NOTE_PACK_YEARS | MED_FROM_NOTE_FAMILY |
                                         MED_FROM_NOTE_EMPHYSEMA);
    /* the table's columns win over the note; the note fills the empty age */
    assert_int_equal(r[1].smoking, MED_SMOKING_CURRENT);
    assert_int_equal(r[1].family_history, 0);
    assert_int_equal(r[1].emphysema, 1);
    assert_true(r[1].age == 70);
    assert_true(isnan(r[1].pack_years)); /* "denies smoking" says 0, but the table says current */
    assert_int_equal(r[1].from_note, MED_FROM_NOTE_AGE);
    assert_int_equal(r[2].smoking, MED_SMOKING_NEVER);
    assert_int_equal(r[2].sex, MED_SEX_FEMALE);
    assert_int_equal(r[2].family_history, MED_UNKNOWN);
    assert_int_equal(r[2].line, 4);
    med_clinical_free(r, n);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"id,age\n1,60\n", "line 1: header has neither 'seriesuid' nor 'patient_id'"},
        {"patient_id,age\nP1,60\nP2,sixty\n", "line 3: age 'sixty' is not valid"},
        {"patient_id,age\nP1,160\n", "line 2: age '160' is not valid"},
        {"patient_id,sex\nP1,X\n", "line 2: sex 'X' is not valid"},
        {"patient_id,smoking\nP1,sometimes\n", "line 2: smoking 'sometimes' is not valid"},
        {"patient_id,family_history\nP1,maybe\n", "line 2: family_history 'maybe' is not valid"},
        {"patient_id,pack_years\nP1,-3\n", "line 2: pack_years '-3' is not valid"},
        {"patient_id,note\n,hello\n", "line 2: empty patient_id"},
        {"patient_id,note\nP1,\"unterminated\n", "line 2: unterminated quoted field"},
        {"", "empty file (expected a header)"},
        {"patient_id,age\nP1,60\nP2,61\nP1,62\n", "line 4: the same patient_id as line 2"},
        {"seriesuid,age\n1.2.3,60\n1.2.3,62\n", "line 3: the same seriesuid as line 2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_csv(bad[i].text);
        r = (med_clinical *)1;
        assert_int_equal(med_clinical_read(p, &r, &n, &err), MC_ERR_FORMAT);
        assert_null(r);
        char want[4400];
        snprintf(want, sizeof want, "%s: %s", p, bad[i].want);
        if (strcmp(err.msg, want) != 0) fail_msg("got '%s', want '%s'", err.msg, want);
    }
    unlink(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_note_table),
        cmocka_unit_test(test_age_sex),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
