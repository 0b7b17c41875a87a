/* schema.c: moe-finance's tables and their migrations (docs/schema.md, section moe-finance). */
#include "schema.h"

static const char *const fin_migrations[] = {
    /* 1: factor values, one row per symbol, date and factor */
    "CREATE TABLE fin_factors ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " factor TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, date, factor)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX fin_factors_run ON fin_factors(run_id);"
    "CREATE VIEW fin_latest_factors AS"
    " SELECT f.symbol, f.date, f.factor, f.value FROM fin_factors f"
    " JOIN (SELECT symbol, max(date) AS date FROM fin_factors GROUP BY symbol) l USING (symbol, date);",
};

mc_status fin_schema_migrate(mc_store *s) {
    return mc_store_migrate(s, "fin", fin_migrations, (int)(sizeof fin_migrations / sizeof *fin_migrations));
}
