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
    /* 2: market regimes: the latest model per symbol and its per-date path */
    "CREATE TABLE fin_regime_models ("
    " symbol TEXT PRIMARY KEY,"
    " features TEXT NOT NULL,"
    " states INTEGER NOT NULL,"
    " loglik REAL NOT NULL,"
    " bic REAL NOT NULL,"
    " model TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;"
    "CREATE TABLE fin_regimes ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " state INTEGER NOT NULL,"
    " label TEXT NOT NULL CHECK (label IN ('bull', 'bear', 'sideways')),"
    " p_state REAL NOT NULL,"
    " p_bull REAL NOT NULL,"
    " p_bear REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, date)) STRICT, WITHOUT ROWID;"
    "CREATE VIEW fin_latest_regimes AS"
    " SELECT r.symbol, r.date, r.label, r.p_state, r.p_bull, r.p_bear, m.states, m.features FROM fin_regimes r"
    " JOIN (SELECT symbol, max(date) AS date FROM fin_regimes GROUP BY symbol) l USING (symbol, date)"
    " JOIN fin_regime_models m USING (symbol);",
    /* 3: the forecaster: trained models and their forecasts */
    "CREATE TABLE fin_models ("
    " path TEXT PRIMARY KEY,"
    " horizon INTEGER NOT NULL,"
    " features INTEGER NOT NULL,"
    " train_rows INTEGER NOT NULL,"
    " val_rows INTEGER NOT NULL,"
    " val_loss REAL NOT NULL,"
    " val_ic REAL NOT NULL,"
    " val_hit_rate REAL NOT NULL,"
    " epochs INTEGER NOT NULL,"
    " metrics TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;"
    "CREATE TABLE fin_forecasts ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " horizon INTEGER NOT NULL,"
    " model TEXT NOT NULL,"
    " forecast REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, date, horizon, model)) STRICT, WITHOUT ROWID;"
    "CREATE VIEW fin_latest_forecasts AS"
    " SELECT f.* FROM fin_forecasts f"
    " JOIN (SELECT symbol, horizon, max(date) AS date FROM fin_forecasts GROUP BY symbol, horizon) l USING (symbol, horizon, date);",
    /* 4: filtered regime probabilities (from the data up to each day only) beside the smoothed ones */
    "ALTER TABLE fin_regimes ADD COLUMN pf_bull REAL;"
    "ALTER TABLE fin_regimes ADD COLUMN pf_bear REAL;"
    "DROP VIEW fin_latest_regimes;"
    "CREATE VIEW fin_latest_regimes AS"
    " SELECT r.symbol, r.date, r.label, r.p_state, r.p_bull, r.p_bear, r.pf_bull, r.pf_bear, m.states, m.features"
    " FROM fin_regimes r"
    " JOIN (SELECT symbol, max(date) AS date FROM fin_regimes GROUP BY symbol) l USING (symbol, date)"
    " JOIN fin_regime_models m USING (symbol);",
};

mc_status fin_schema_migrate(mc_store *s) {
    return mc_store_migrate(s, "fin", fin_migrations, (int)(sizeof fin_migrations / sizeof *fin_migrations));
}
