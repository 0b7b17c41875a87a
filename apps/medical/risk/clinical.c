/* clinical.c: the clinical CSV and the facts of free-text notes, read with a small tokenizer and
 * NegEx-style negation (a cue before a mention in its clause, or a few words after it). */
#include "clinical.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csv.h"

/* ---- tokens ------------------------------------------------------------------------------------ */

#define TOK_LEN 24

typedef struct token {
    char s[TOK_LEN]; /* lower case, truncated */
    double num;      /* its value when it is a number, else NAN */
    int clause;
} token;

typedef struct tokens {
    token *t;
    int n;
} tokens;

static int is_clause_word(const char *s) {
    static const char *const w[] = {"but", "however", "although", "though", "except", "yet"};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (strcmp(s, w[i]) == 0) return 1;
    return 0;
}

/* Words of letters and digits (a number may hold one decimal point); '.', ';', '!', '?' and line
 * breaks end a clause, and so do words such as "but". */
static int tokenize(const char *text, tokens *out) {
    size_t len = strlen(text);
    out->t = malloc(sizeof(token) * (len / 2 + 2));
    out->n = 0;
    if (!out->t) return -1;
    int clause = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        if (c == '.' || c == ';' || c == '!' || c == '?' || c == '\n') {
            clause++;
            i++;
            continue;
        }
        if (!isalnum(c)) {
            i++;
            continue;
        }
        token *t = &out->t[out->n];
        size_t k = 0, start = i;
        int digits = 1, dot = 0;
        while (i < len) {
            unsigned char d = (unsigned char)text[i];
            if (isalnum(d)) {
                if (!isdigit(d)) digits = 0;
            } else if (d == '.' && digits && !dot && i + 1 < len && isdigit((unsigned char)text[i + 1]) && i > start) {
                dot = 1;
            } else {
                break;
            }
            if (k < TOK_LEN - 1) t->s[k++] = (char)tolower(d);
            i++;
        }
        t->s[k] = '\0';
        t->num = digits && k < TOK_LEN - 1 ? atof(t->s) : NAN;
        if (is_clause_word(t->s)) {
            clause++;
            continue;
        }
        t->clause = clause;
        out->n++;
    }
    return 0;
}

static int eq(const token *t, const char *w) { return strcmp(t->s, w) == 0; }
static int starts(const token *t, const char *p) { return strncmp(t->s, p, strlen(p)) == 0; }

static int any_of(const token *t, const char *const *w) {
    for (; *w; w++)
        if (eq(t, *w)) return 1;
    return 0;
}

static const char *const NEG_BEFORE[] = {"no", "not", "denies", "denied", "deny", "denying", "never", "without",
                                         "negative", "non", "nor", "none", "doesn", "don", "didn", "neg", NULL};
static const char *const NEG_AFTER[] = {"negative", "denied", "none", "absent", "neg", NULL};

/* Whether the mention spanning tokens [a, b] is negated: a cue among the 6 tokens before it, or
 * among the 3 after it ("no" only when it ends the clause), in the same clause. "no longer" is not a negation (it means former). */
static int negated(const tokens *tk, int a, int b) {
    int c = tk->t[a].clause;
    for (int i = a - 1; i >= 0 && i >= a - 6 && tk->t[i].clause == c; i--) {
        if (!any_of(&tk->t[i], NEG_BEFORE)) continue;
        if (eq(&tk->t[i], "no") && i + 1 < tk->n && eq(&tk->t[i + 1], "longer")) continue;
        return 1;
    }
    for (int i = b + 1; i < tk->n && i <= b + 3 && tk->t[i].clause == c; i++) {
        if (any_of(&tk->t[i], NEG_AFTER)) return 1;
        /* "Emphysema: no." but not "lung cancer, no emphysema" */
        if (eq(&tk->t[i], "no") && (i + 1 == tk->n || tk->t[i + 1].clause != c)) return 1;
    }
    return 0;
}

static int clause_has(const tokens *tk, int at, const char *const *w) {
    for (int i = at; i >= 0 && tk->t[i].clause == tk->t[at].clause; i--)
        if (any_of(&tk->t[i], w)) return 1;
    for (int i = at + 1; i < tk->n && tk->t[i].clause == tk->t[at].clause; i++)
        if (any_of(&tk->t[i], w)) return 1;
    return 0;
}

/* ---- smoking ----------------------------------------------------------------------------------- */

static int smoking_word(const token *t) {
    return starts(t, "smok") || starts(t, "cigar") || starts(t, "tobacco") || starts(t, "nonsmok");
}

static const char *const QUIT[] = {"quit", "quitting", "stopped", "former", "formerly", "ex", "previously",
                                   "previous", "past", "remote", "longer", "used", NULL};
static const char *const TRYING[] = {"trying", "tries", "wants", "plans", "planning", "attempting", "considering",
                                     "counseled", "advised", "encouraged", NULL};
static const char *const CURRENT[] = {"current", "currently", "active", "actively", "still", "daily", "continues",
                                      "ppd", "smokes", "smoker", "smoking", "cigarettes", NULL};

/* A quitting cue in the mention's clause that is not about wanting to quit. */
static int quits(const tokens *tk, int at) {
    int c = tk->t[at].clause;
    for (int i = 0; i < tk->n; i++) {
        if (tk->t[i].clause != c || !any_of(&tk->t[i], QUIT)) continue;
        int trying = 0;
        for (int j = i - 1; j >= 0 && j >= i - 3 && tk->t[j].clause == c; j--) trying |= any_of(&tk->t[j], TRYING);
        if (!trying) return 1;
    }
    return 0;
}

/* A clause that says only that something stopped ("Quit in 2015."), with no object of its own. */
static int bare_quit(const tokens *tk, int i) {
    static const char *const AFTER[] = {"in", "at", "on", "since", "about", "around", "years", "ago", "cold",
                                        "approximately", "age", NULL};
    if (!eq(&tk->t[i], "quit") && !eq(&tk->t[i], "stopped")) return 0;
    int c = tk->t[i].clause;
    for (int j = 0; j < tk->n; j++)
        if (tk->t[j].clause == c && smoking_word(&tk->t[j])) return 0;
    if (i + 1 >= tk->n || tk->t[i + 1].clause != c) return 1;
    return !isnan(tk->t[i + 1].num) || any_of(&tk->t[i + 1], AFTER);
}

static med_smoking smoking_of(const tokens *tk, int i) {
    const token *t = &tk->t[i];
    if (starts(t, "nonsmok")) return MED_SMOKING_NEVER;
    if (quits(tk, i)) return MED_SMOKING_FORMER;
    if (negated(tk, i, i)) return MED_SMOKING_NEVER;
    /* "smoking history" or "history of smoking" without a status says nothing of the status */
    int c = t->clause;
    for (int j = i - 2; j <= i + 1; j++)
        if (j >= 0 && j < tk->n && j != i && tk->t[j].clause == c && (eq(&tk->t[j], "history") || eq(&tk->t[j], "hx"))) {
            static const char *const STATUS[] = {"current", "currently", "active", "still", "daily", "ppd", NULL};
            return clause_has(tk, i, STATUS) ? MED_SMOKING_CURRENT : MED_SMOKING_UNKNOWN;
        }
    if (eq(t, "smoked")) return clause_has(tk, i, CURRENT) ? MED_SMOKING_CURRENT : MED_SMOKING_UNKNOWN;
    return MED_SMOKING_CURRENT;
}

static double count_word(const token *t) {
    if (!isnan(t->num)) return t->num;
    if (eq(t, "one") || eq(t, "a") || eq(t, "1ppd")) return 1;
    if (eq(t, "two")) return 2;
    if (eq(t, "three")) return 3;
    if (eq(t, "half")) return 0.5;
    return NAN;
}

static int year_word(const token *t) {
    return eq(t, "year") || eq(t, "years") || eq(t, "yr") || eq(t, "yrs") || eq(t, "y");
}

/* Pack-years stated directly ("30 pack-years", "30 pk-yr", "pack-years: 30") at i, or as packs a day
 * for years ("1 ppd for 30 years", "2 packs per day x 20 yrs"). NAN when i starts neither. */
static double pack_years_at(const tokens *tk, int i) {
    const token *t = tk->t;
    int n = tk->n, c = t[i].clause;
#define IN(j) ((j) < n && t[j].clause == c)
    /* N pack years / N pk yr / N py */
    if (!isnan(t[i].num) && IN(i + 1)) {
        if ((eq(&t[i + 1], "pack") || eq(&t[i + 1], "pk")) && IN(i + 2) && year_word(&t[i + 2])) return t[i].num;
        if (eq(&t[i + 1], "py") || eq(&t[i + 1], "packyears") || eq(&t[i + 1], "pys")) return t[i].num;
    }
    /* pack years (of|:) N */
    if ((eq(&t[i], "pack") || eq(&t[i], "pk")) && IN(i + 1) && year_word(&t[i + 1]) && (i == 0 || isnan(t[i - 1].num))) {
        for (int j = i + 2; j <= i + 4 && IN(j); j++)
            if (!isnan(t[j].num)) return t[j].num;
    }
    /* X ppd / X pack(s) (per|a) day, then (for|x|times) Y years; "half a pack" is X = 0.5 */
    if (eq(&t[i], "a") && i > 0 && eq(&t[i - 1], "half")) return NAN;
    double x = count_word(&t[i]);
    if (eq(&t[i], "half") && IN(i + 1) && eq(&t[i + 1], "a")) i++;
    if (!isnan(x) && IN(i + 1)) {
        int j = -1;
        if (eq(&t[i + 1], "ppd")) j = i + 2;
        else if ((eq(&t[i + 1], "pack") || eq(&t[i + 1], "packs")) && IN(i + 3) &&
                 (eq(&t[i + 2], "per") || eq(&t[i + 2], "a")) && eq(&t[i + 3], "day"))
            j = i + 4;
        for (int k = j; j >= 0 && k <= j + 2 && IN(k + 1); k++)
            if (!isnan(t[k].num) && year_word(&t[k + 1])) return x * t[k].num;
    }
#undef IN
    return NAN;
}

/* ---- history of lung cancer, emphysema, age, sex ------------------------------------------------- */

static const char *const CANCER[] = {"cancer", "ca", "carcinoma", "malignancy", "adenocarcinoma", "neoplasm",
                                     "tumor", "tumour", "nsclc", "sclc", NULL};
static const char *const RELATIVE[] = {"family", "fh", "fhx", "mother", "father", "sister", "brother", "sibling",
                                       "siblings", "parent", "parents", "aunt", "uncle", "grandmother",
                                       "grandfather", "mom", "dad", "daughter", "son", "cousin", "relative",
                                       "relatives", NULL};
static const char *const PERSONAL[] = {"history", "hx", "prior", "previous", "previously", "treated", "diagnosed",
                                       "resected", "lobectomy", "pneumonectomy", "survivor", "had", "p", NULL};
static const char *const NOT_HISTORY[] = {"screening", "screen", "risk", "suspicious", "concern", "rule", "evaluate",
                                          "evaluation", NULL};

/* A mention of cancer at i: 2 when it is lung cancer ("lung cancer", "lung ca", "NSCLC"), 1 when
 * cancer of no stated site, 0 otherwise; *end is its last token. */
static int cancer_at(const tokens *tk, int i, int *end) {
    const token *t = tk->t;
    *end = i;
    if (eq(&t[i], "nsclc") || eq(&t[i], "sclc")) return 2;
    if (eq(&t[i], "lung") || eq(&t[i], "pulmonary") || eq(&t[i], "bronchogenic")) {
        for (int j = i + 1; j <= i + 2 && j < tk->n && t[j].clause == t[i].clause; j++)
            if (any_of(&t[j], CANCER)) {
                *end = j;
                return 2;
            }
        return 0;
    }
    if (!any_of(&t[i], CANCER)) return 0;
    /* a site named just before ("breast cancer") makes it another cancer */
    if (i > 0 && t[i - 1].clause == t[i].clause && isalpha((unsigned char)t[i - 1].s[0]) &&
        !any_of(&t[i - 1], NEG_BEFORE) && !eq(&t[i - 1], "of") && !eq(&t[i - 1], "with") &&
        !eq(&t[i - 1], "for") && !eq(&t[i - 1], "had") && !eq(&t[i - 1], "any") && !any_of(&t[i - 1], PERSONAL))
        return -1;
    return 1;
}

static int age_at(const tokens *tk, int i, double *age, med_sex *sex) {
    const token *t = tk->t;
    int n = tk->n, c = t[i].clause;
    /* 67M, 67f */
    size_t L = strlen(t[i].s);
    if (L >= 2 && L <= 4 && (t[i].s[L - 1] == 'm' || t[i].s[L - 1] == 'f')) {
        char digits[8];
        memcpy(digits, t[i].s, L - 1);
        digits[L - 1] = '\0';
        int ok = 1;
        for (size_t k = 0; k + 1 < L; k++) ok &= isdigit((unsigned char)digits[k]) != 0;
        if (ok) {
            *age = atof(digits);
            *sex = t[i].s[L - 1] == 'm' ? MED_SEX_MALE : MED_SEX_FEMALE;
            return 1;
        }
    }
    if (!isnan(t[i].num) && i + 1 < n && t[i + 1].clause == c) {
        /* 67 year old, 67 yr old, 67 yo, 67 y o */
        if ((eq(&t[i + 1], "year") || eq(&t[i + 1], "yr") || eq(&t[i + 1], "years")) && i + 2 < n && eq(&t[i + 2], "old")) {
            *age = t[i].num;
            return 1;
        }
        if (eq(&t[i + 1], "yo") || (eq(&t[i + 1], "y") && i + 2 < n && eq(&t[i + 2], "o"))) {
            *age = t[i].num;
            return 1;
        }
    }
    /* age 67, aged 67, age: 67 */
    if ((eq(&t[i], "age") || eq(&t[i], "aged")) && i + 1 < n && t[i + 1].clause == c && !isnan(t[i + 1].num)) {
        *age = t[i + 1].num;
        return 1;
    }
    return 0;
}

void med_note_extract(const char *note, med_note_facts *out) {
    out->age = NAN;
    out->sex = MED_SEX_UNKNOWN;
    out->smoking = MED_SMOKING_UNKNOWN;
    out->pack_years = NAN;
    out->family_history = out->personal_history = out->emphysema = MED_UNKNOWN;
    tokens tk;
    if (!note || tokenize(note, &tk) != 0) return;
    int former = 0, any_smoking = 0;
    for (int i = 0; i < tk.n; i++) any_smoking |= smoking_word(&tk.t[i]);
    for (int i = 0; i < tk.n; i++) {
        const token *t = &tk.t[i];
        double a;
        med_sex sx = MED_SEX_UNKNOWN;
        if (isnan(out->age) && age_at(&tk, i, &a, &sx) && a >= 0 && a <= 120) {
            out->age = a;
            if (sx != MED_SEX_UNKNOWN) out->sex = sx;
        }
        if (out->sex == MED_SEX_UNKNOWN) {
            static const char *const MALE[] = {"male", "man", "gentleman", "gent", NULL};
            static const char *const FEMALE[] = {"female", "woman", "lady", NULL};
            if (any_of(t, MALE)) out->sex = MED_SEX_MALE;
            else if (any_of(t, FEMALE)) out->sex = MED_SEX_FEMALE;
        }
        if (smoking_word(t)) {
            med_smoking s = smoking_of(&tk, i);
            if (s == MED_SMOKING_FORMER) former = 1;
            if (s != MED_SMOKING_UNKNOWN) out->smoking = s;
        } else if (any_smoking && bare_quit(&tk, i)) {
            former = 1;
            out->smoking = MED_SMOKING_FORMER;
        }
        double py = pack_years_at(&tk, i);
        if (!isnan(py) && py >= 0 && py < 1000) out->pack_years = py;
        int end, kind = cancer_at(&tk, i, &end);
        if (kind > 0) {
            int neg = negated(&tk, i, end);
            if (clause_has(&tk, i, RELATIVE)) {
                if (kind == 2 || neg) out->family_history = neg ? 0 : 1;
            } else if (!clause_has(&tk, i, NOT_HISTORY) && (neg || clause_has(&tk, i, PERSONAL))) {
                if (kind == 2 || neg) out->personal_history = neg ? 0 : 1;
            }
            i = end;
        }
        if (starts(t, "emphysem")) out->emphysema = negated(&tk, i, i) ? 0 : 1;
    }
    if (former && out->smoking == MED_SMOKING_CURRENT) out->smoking = MED_SMOKING_FORMER;
    if (out->smoking == MED_SMOKING_NEVER && isnan(out->pack_years)) out->pack_years = 0;
    free(tk.t);
}

/* ---- the CSV ----------------------------------------------------------------------------------- */

const char *med_smoking_name(med_smoking s) {
    switch (s) {
    case MED_SMOKING_NEVER: return "never";
    case MED_SMOKING_FORMER: return "former";
    case MED_SMOKING_CURRENT: return "current";
    default: return "unknown";
    }
}

const char *med_sex_name(med_sex s) { return s == MED_SEX_FEMALE ? "F" : s == MED_SEX_MALE ? "M" : "unknown"; }

static int parse_yes_no(const char *s, int *out) {
    static const char *const yes[] = {"yes", "y", "1", "true", "positive", NULL};
    static const char *const no[] = {"no", "n", "0", "false", "negative", NULL};
    if (!*s) {
        *out = MED_UNKNOWN;
        return 0;
    }
    for (int i = 0; yes[i]; i++)
        if (strcasecmp(s, yes[i]) == 0) return *out = 1, 0;
    for (int i = 0; no[i]; i++)
        if (strcasecmp(s, no[i]) == 0) return *out = 0, 0;
    if (strcasecmp(s, "unknown") == 0 || strcasecmp(s, "na") == 0) return *out = MED_UNKNOWN, 0;
    return -1;
}

static int parse_smoking(const char *s, med_smoking *out) {
    static const struct {
        const char *name;
        med_smoking v;
    } names[] = {{"never", MED_SMOKING_NEVER},   {"non-smoker", MED_SMOKING_NEVER}, {"no", MED_SMOKING_NEVER},
                 {"former", MED_SMOKING_FORMER}, {"ex", MED_SMOKING_FORMER},        {"ex-smoker", MED_SMOKING_FORMER},
                 {"quit", MED_SMOKING_FORMER},   {"current", MED_SMOKING_CURRENT},  {"yes", MED_SMOKING_CURRENT},
                 {"smoker", MED_SMOKING_CURRENT}, {"unknown", MED_SMOKING_UNKNOWN}, {"", MED_SMOKING_UNKNOWN}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) return *out = names[i].v, 0;
    return -1;
}

static int parse_sex(const char *s, med_sex *out) {
    if (!*s || strcasecmp(s, "unknown") == 0) return *out = MED_SEX_UNKNOWN, 0;
    if (strcasecmp(s, "m") == 0 || strcasecmp(s, "male") == 0) return *out = MED_SEX_MALE, 0;
    if (strcasecmp(s, "f") == 0 || strcasecmp(s, "female") == 0) return *out = MED_SEX_FEMALE, 0;
    return -1;
}

void med_clinical_free(med_clinical *rows, int n) {
    if (!rows) return;
    for (int i = 0; i < n; i++) {
        free(rows[i].id);
        free(rows[i].note);
    }
    free(rows);
}

/* The table's own values of one row, with the note filling what they leave unknown. */
static void fill_from_note(med_clinical *r) {
    med_note_facts f;
    med_note_extract(r->note, &f);
    if (isnan(r->age) && !isnan(f.age)) r->age = f.age, r->from_note |= MED_FROM_NOTE_AGE;
    if (r->sex == MED_SEX_UNKNOWN && f.sex != MED_SEX_UNKNOWN) r->sex = f.sex, r->from_note |= MED_FROM_NOTE_SEX;
    if (r->smoking == MED_SMOKING_UNKNOWN && f.smoking != MED_SMOKING_UNKNOWN)
        r->smoking = f.smoking, r->from_note |= MED_FROM_NOTE_SMOKING;
    /* the 0 pack-years a "never smoker" note implies does not hold against a table that says otherwise */
    int implied_zero = f.smoking == MED_SMOKING_NEVER && f.pack_years == 0;
    if (isnan(r->pack_years) && !isnan(f.pack_years) && !(implied_zero && r->smoking != MED_SMOKING_NEVER))
        r->pack_years = f.pack_years, r->from_note |= MED_FROM_NOTE_PACK_YEARS;
    if (r->family_history == MED_UNKNOWN && f.family_history != MED_UNKNOWN)
        r->family_history = f.family_history, r->from_note |= MED_FROM_NOTE_FAMILY;
    if (r->personal_history == MED_UNKNOWN && f.personal_history != MED_UNKNOWN)
        r->personal_history = f.personal_history, r->from_note |= MED_FROM_NOTE_PERSONAL;
    if (r->emphysema == MED_UNKNOWN && f.emphysema != MED_UNKNOWN)
        r->emphysema = f.emphysema, r->from_note |= MED_FROM_NOTE_EMPHYSEMA;
}

enum { C_SERIES, C_PATIENT, C_AGE, C_SEX, C_SMOKING, C_PACK, C_FAMILY, C_PERSONAL, C_EMPH, C_NOTE, N_COLS };

mc_status med_clinical_read(const char *path, med_clinical **rows, int *n, mc_error *err) {
    static const char *const names[N_COLS] = {"seriesuid",  "patient_id",       "age",       "sex",  "smoking",
                                              "pack_years", "family_history", "personal_history", "emphysema", "note"};
    mc_error local;
    if (!err) err = &local;
    *rows = NULL;
    *n = 0;
    med_csv c;
    mc_status st = med_csv_open(&c, path, err);
    if (st != MC_OK) return st;
    med_clinical *v = NULL;
    int cnt = 0, cap = 0, col[N_COLS], r = med_csv_next(&c, err);
    if (r <= 0) {
        st = r < 0 ? err->code : mc_error_set(err, MC_ERR_FORMAT, "%s: empty file (expected a header)", path);
        goto done;
    }
    for (int k = 0; k < N_COLS; k++) col[k] = med_csv_find(&c, names[k]);
    int id_col = col[C_SERIES] >= 0 ? col[C_SERIES] : col[C_PATIENT];
    if (id_col < 0) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: header has neither 'seriesuid' nor 'patient_id'", path, c.line);
        goto done;
    }
    while ((r = med_csv_next(&c, err)) == 1) {
        if (cnt == cap) {
            cap = cap ? 2 * cap : 64;
            med_clinical *nv = realloc(v, sizeof *nv * (size_t)cap);
            if (!nv) goto nomem;
            v = nv;
        }
        med_clinical *row = &v[cnt];
        memset(row, 0, sizeof *row);
        row->line = c.line;
        row->age = row->pack_years = NAN;
        row->family_history = row->personal_history = row->emphysema = MED_UNKNOWN;
        row->id_is_series = col[C_SERIES] >= 0;
#define CELL(k) (col[k] >= 0 && col[k] < c.n ? c.field[col[k]] : "")
        const char *id = CELL(id_col == col[C_SERIES] ? C_SERIES : C_PATIENT);
        if (!*id) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: empty %s", path, c.line, names[row->id_is_series ? C_SERIES : C_PATIENT]);
            goto done;
        }
        row->id = strdup(id);
        row->note = strdup(CELL(C_NOTE));
        cnt++;
        if (!row->id || !row->note) goto nomem;
        const char *bad = NULL;
        if (*CELL(C_AGE) && (med_csv_real(CELL(C_AGE), &row->age) != 0 || row->age < 0 || row->age > 120)) bad = names[C_AGE];
        else if (parse_sex(CELL(C_SEX), &row->sex) != 0) bad = names[C_SEX];
        else if (parse_smoking(CELL(C_SMOKING), &row->smoking) != 0) bad = names[C_SMOKING];
        else if (*CELL(C_PACK) && (med_csv_real(CELL(C_PACK), &row->pack_years) != 0 || row->pack_years < 0))
            bad = names[C_PACK];
        else if (parse_yes_no(CELL(C_FAMILY), &row->family_history) != 0) bad = names[C_FAMILY];
        else if (parse_yes_no(CELL(C_PERSONAL), &row->personal_history) != 0) bad = names[C_PERSONAL];
        else if (parse_yes_no(CELL(C_EMPH), &row->emphysema) != 0) bad = names[C_EMPH];
        if (bad) {
            int k = 0;
            while (strcmp(names[k], bad) != 0) k++;
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: %s '%.40s' is not valid", path, c.line, bad, CELL(k));
            goto done;
        }
#undef CELL
        fill_from_note(row);
    }
    if (r < 0) {
        st = err->code;
        goto done;
    }
    int first, again, twice = med_csv_repeated(v, cnt, sizeof *v, offsetof(med_clinical, id), &first, &again);
    if (twice < 0) goto nomem;
    if (twice) { /* one row per series or patient; the id itself is not repeated: it may name a patient */
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: the same %s as line %ld", path, v[again].line,
                          names[v[again].id_is_series ? C_SERIES : C_PATIENT], v[first].line);
        goto done;
    }
    *rows = v;
    *n = cnt;
    v = NULL;
    st = MC_OK;
    goto done;
nomem:
    st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
done:
    med_clinical_free(v, cnt);
    med_csv_close(&c);
    return st;
}
