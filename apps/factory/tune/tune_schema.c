/* tune_schema.c: the fab_tune_ tables and their migrations (docs/schema.md, section "moe-factory
 * tuning"). */
#include "tune_schema.h"

static const char *const fab_tune_migrations[] = {
    /* 1: simulation studies (per seed, with their curves) and proposals for a real line */
    "CREATE TABLE fab_tune_bench ("
    " process TEXT NOT NULL,"
    " study TEXT NOT NULL CHECK (study IN ('stationary', 'drift')),"
    " method TEXT NOT NULL,"
    " seed INTEGER NOT NULL,"
    " settings TEXT NOT NULL,"
    " optimum REAL NOT NULL,"
    " mean_yield REAL NOT NULL,"
    " regret REAL NOT NULL,"
    " samples_to_within INTEGER,"
    " within_frac REAL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (process, study, method, seed, settings)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX fab_tune_bench_run ON fab_tune_bench(run_id);"
    "CREATE TABLE fab_tune_curves ("
    " process TEXT NOT NULL,"
    " study TEXT NOT NULL,"
    " method TEXT NOT NULL,"
    " seed INTEGER NOT NULL,"
    " settings TEXT NOT NULL,"
    " step INTEGER NOT NULL,"
    " yield REAL NOT NULL,"
    " best REAL,"
    " optimum REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (process, study, method, seed, settings, step)) STRICT, WITHOUT ROWID;"
    "CREATE TABLE fab_tune_proposals ("
    " history_hash TEXT NOT NULL,"
    " bounds_hash TEXT NOT NULL,"
    " objective TEXT NOT NULL,"
    " direction TEXT NOT NULL CHECK (direction IN ('maximize', 'minimize')),"
    " n INTEGER NOT NULL,"
    " seed INTEGER NOT NULL,"
    " rank INTEGER NOT NULL,"
    " history TEXT NOT NULL,"
    " settings TEXT NOT NULL,"
    " predicted REAL NOT NULL,"
    " uncertainty REAL NOT NULL,"
    " expected_improvement REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (history_hash, bounds_hash, objective, direction, n, seed, rank)) STRICT, WITHOUT ROWID;"
    "CREATE VIEW fab_tune_bench_summary AS"
    " SELECT process, study, method, settings, count(*) AS seeds, avg(optimum) AS optimum,"
    " avg(mean_yield) AS mean_yield, avg(regret) AS regret, avg(samples_to_within) AS samples_to_within,"
    " count(samples_to_within) AS reached, avg(within_frac) AS within_frac"
    " FROM fab_tune_bench GROUP BY process, study, method, settings;",
};

mc_status fab_tune_schema_migrate(mc_store *s) {
    return mc_store_migrate(s, "fab_tune", fab_tune_migrations,
                            (int)(sizeof fab_tune_migrations / sizeof *fab_tune_migrations));
}
